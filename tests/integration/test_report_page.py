"""The report as a page: opened in headless Chromium (Debian's chromium), a
screenshot taken, its charts present in the rendered page, no console error
and nothing fetched; the same page as a PDF; the same figures as CSV."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pypdf
import pytest

from conftest import make_email

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "report"
START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: `scripts/setup test` should have installed it")
        pytest.skip("Chromium is not installed (apt-get install chromium): the report page test needs a real browser")
    return found


@pytest.fixture
def year(landlord):
    """A landlord with complaints answered on time and late, one escalated."""
    landlord.config.write_text(landlord.config.read_text().replace('policy = "reliance"', 'policy = "reliance"\nhomes = 2400'))
    for n in range(4):
        landlord.deliver(make_email(f"Resident {n} <r{n}@example.net>", f"Repair {n}",
                                    f"I want to make a complaint: repair number {n} was never done."), START + timedelta(days=7 * n))
    landlord.json("ingest", now=START + timedelta(days=22))
    for draft in landlord.json("drafts"):
        landlord.ok("approve", draft["id"], "--by", "Priya Shah")
    landlord.json("send", now=START + timedelta(days=22, hours=1))
    for case in (landlord.json("cases")[0], landlord.json("cases")[-1]):  # the oldest answered late, the newest on time
        draft = landlord.json("draft", case["reference"], "response", "--outcome", "upheld", "--by", "Tom Okafor")
        landlord.ok("approve", draft["id"], "--by", "Priya Shah", "--override", "findings written for the test")
    landlord.json("send", now=START + timedelta(days=22, hours=2))
    return landlord


def test_the_report_page_renders_its_charts_in_chromium_with_no_console_error(year, tmp_path):
    page = tmp_path / "report.html"
    year.ok("report", "--from", "2026-11-01", "--to", "2026-12-31", "--html", str(page), "--pdf", str(tmp_path / "report.pdf"),
            now=START + timedelta(days=23))  # counted to today, 25 November
    OUTPUT.mkdir(parents=True, exist_ok=True)
    browser = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
               "--disable-background-networking", "--hide-scrollbars", "--window-size=1100,2400",
               "--enable-logging=stderr", "--v=0", "--user-data-dir=" + str(tmp_path / "profile")]
    shot = subprocess.run(browser + [f"--screenshot={OUTPUT / 'report.png'}", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and (OUTPUT / "report.png").stat().st_size > 20_000  # a page with charts, not a blank one
    dom = subprocess.run(browser + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.stdout.count('class="chart"') == 3  # volumes by month, on time against target, outcome mix
    assert dom.stdout.count('class="bar stage1"') == 1 and 'class="bar rate"' in dom.stdout and 'class="target"' in dom.stdout
    console = [line for line in (shot.stderr + dom.stderr).splitlines() if "CONSOLE" in line or "Failed to load resource" in line]
    assert console == []  # no script error, no resource it failed (or tried) to fetch
    pdf_text = " ".join(p.extract_text() for p in pypdf.PdfReader(tmp_path / "report.pdf").pages)
    assert "Complaints performance report" in pdf_text and "CH02 stage 1" in pdf_text


def test_the_csv_has_every_figure_by_the_names_report_cases_takes(year):
    rows = dict(csv.reader(io.StringIO(year.ok("report", "--from", "2026-11-01", "--to", "2026-12-31", "--csv",
                                               now=START + timedelta(days=23)))))
    assert rows["figure"] == "value" and rows["stage1.received"] == "4" and rows["stage1.ch01_per_1000_homes"] == "1.67"
    received = year.json("report", "--from", "2026-11-01", "--to", "2026-12-31", "--cases", "stage1.received")
    assert len(received) == int(rows["stage1.received"])
    assert (rows["stage1.responded"], rows["stage1.responded_within_timescale"], rows["stage1.ch02_within_timescale"]) == ("2", "1", "0.5")
    assert (rows["ombudsman_details.sent"], rows["ombudsman_details.overridden"]) == ("2", "2")  # both responses approved over the lint

"""How long one PDF letter takes, beside WeasyPrint rendering a bare one-page
HTML of the same length on the same machine (the issue's target: within 1.5x).

Usage: .venv/bin/python bench/pdf_letters.py [--runs N]
"""

from __future__ import annotations

import argparse
import html
import re
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import weasyprint

from mailcomplaints.config import load_config
from mailcomplaints.domain.calendar import LONDON
from mailcomplaints.service.app import App
from mailcomplaints.service.drafts import render_context
from mailcomplaints.service.pipeline import ingest
from mailcomplaints.service.setup import config_text
from mailcomplaints.store import repository as repo

AT = datetime(2026, 11, 23, 10, 0, tzinfo=LONDON)


def timed(fn, runs: int) -> list[float]:
    fn()  # warm up: the first render loads fonts
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "mailcomplaints.toml").write_text(config_text(landlord="Reliance Housing", policy="reliance",
                                                              address="complaints@landlord.example.org",
                                                              mailbox_path="mailbox", database_path="db.sqlite"))
        app = App(load_config(root / "mailcomplaints.toml"))
        (app.mailbox.root / "new" / f"{int(AT.timestamp())}.bench.test").write_bytes(
            b"From: Jane Doe <jane@example.net>\nTo: complaints@landlord.example.org\nSubject: Damp in my bedroom\n"
            b"Message-ID: <bench-1@example.net>\n\nI want to make a complaint: nobody has fixed the damp.\n")
        ingest(app, AT + timedelta(minutes=1))
        with app.db.transaction() as session:
            case = repo.case_by_reference(session, "CMP-000001")
            letter = app.renderer.letter_html("acknowledgement", render_context(app, case, "acknowledgement", 1, AT))
        # Both baselines hold all the letter's text: letterhead, address, reference and date, body.
        body = letter.split("<body", 1)[1].split(">", 1)[1].split("</body>")[0]
        words = " ".join(re.sub(r"<[^>]+>", " ", html.unescape(body)).split())
        bare = "<html><body><p>" + html.escape(words) + "</p></body></html>"
        paragraphs = [" ".join(re.sub(r"<[^>]+>", " ", html.unescape(p)).split())
                      for p in re.split(r"</p>|</li>|</h2>|<br>|</div>|</section>", body)]
        bare_paragraphs = "<html><body>" + "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p) + "</body></html>"
        ours = statistics.median(timed(lambda: app.pdf.render(letter), runs)) * 1000
        app.close()
    print(f"our letter (acknowledgement, A4, letterhead, page numbers): median {ours:.0f} ms over {runs} runs")
    for name, markup in (("bare HTML, the same text in one paragraph", bare), ("bare HTML, the same text as paragraphs", bare_paragraphs)):
        plain = statistics.median(timed(lambda: weasyprint.HTML(string=markup).write_pdf(), runs)) * 1000
        print(f"{name:<48} median {plain:.0f} ms; ours is {ours / plain:.2f}x (target: at most 1.5)")


if __name__ == "__main__":
    main()

"""The coverage-guided fuzz target (fuzz/mail_pipeline.py, atheris over
libFuzzer) runs for a bounded time — 60 s in CI, about 10 s otherwise,
MAILCOMPLAINTS_FUZZ_SECONDS to choose — with a memory ceiling and a per-input
time limit, and finds nothing: every input is read or declared unreadable,
and every property of fuzz/properties.py holds. What it did (executions,
coverage) goes to test-output/fuzz/summary.json for the README; an input
that breaks a property is saved beside it as crash-*."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "fuzz" / "mail_pipeline.py"
OUTPUT = ROOT / "test-output" / "fuzz"
RSS_LIMIT_MB = 1536  # the interpreter with the instrumented pipeline runs in about 90 MB
PER_INPUT_SECONDS = 10  # any one input: the hostile tests hold ingest to well under that per message


# The target is started by a small Python process, not by pytest itself: on Linux
# a child keeps the peak RSS of the process it was forked from (across exec), and
# libFuzzer's -rss_limit_mb reads that peak — pytest, after the 30 MB hostile
# mail tests, would lend the target a gigabyte it never used.
LAUNCH = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def fuzz_seconds() -> int:
    chosen = os.environ.get("MAILCOMPLAINTS_FUZZ_SECONDS", "").strip()
    if chosen:
        return max(1, int(chosen))
    return 60 if os.environ.get("CI") else 10


def libfuzzer_figures(output: str) -> dict:
    """What libFuzzer printed at the end: `-print_final_stats=1` lines and the
    last "#N DONE cov: C ft: F corp: U/SIZE" status line."""
    figures: dict = {}
    for name, value in re.findall(r"^stat::(\w+):\s+(\d+)", output, re.M):
        figures[name] = int(value)
    done = re.findall(r"^#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/", output, re.M)
    if done:
        runs, cov, ft, units = (int(v) for v in done[-1])
        figures.update(done_runs=runs, coverage=cov, features=ft, corpus_units=units)
    seeds = re.search(r"mail_pipeline: (\d+) seeds", output)
    if seeds:
        figures["seeds"] = int(seeds.group(1))
    return figures


def test_the_mail_pipeline_survives_coverage_guided_fuzzing(tmp_path):
    from databases import BACKEND

    if BACKEND != "sqlite":
        pytest.skip("the fuzz target touches no database: it runs once, in the SQLite pass")
    try:
        import atheris  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("atheris is missing in CI: the [test] extra installs it (`pip install -e .[test]`)")
        pytest.skip("atheris is not installed (pip install atheris): the fuzz target needs it")
    seconds = fuzz_seconds()
    artifacts = OUTPUT / "crashes"
    artifacts.mkdir(parents=True, exist_ok=True)
    before = set(artifacts.iterdir())
    command = [sys.executable, "-c", LAUNCH, sys.executable, str(TARGET), "--seeds", str(tmp_path / "corpus"),
               f"-max_total_time={seconds}", f"-rss_limit_mb={RSS_LIMIT_MB}", f"-timeout={PER_INPUT_SECONDS}",
               "-print_final_stats=1", f"-artifact_prefix={artifacts}/"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, errors="replace", timeout=seconds + 180)
    output = done.stdout + done.stderr
    figures = libfuzzer_figures(output)
    executions = figures.get("number_of_executed_units") or figures.get("done_runs", 0)
    summary = {
        "seconds": seconds, "executions": executions,
        "executions_per_second": figures.get("average_exec_per_sec"),
        "seeds": figures.get("seeds"), "coverage": figures.get("coverage"), "features": figures.get("features"),
        "corpus_units": figures.get("corpus_units"), "new_units_added": figures.get("new_units_added"),
        "slowest_unit_seconds": figures.get("slowest_unit_time_sec"), "peak_rss_mb": figures.get("peak_rss_mb"),
        "rss_limit_mb": RSS_LIMIT_MB, "per_input_timeout_seconds": PER_INPUT_SECONDS,
        "exit_code": done.returncode, "crashed": done.returncode != 0,
        "mutated_beyond_the_seeds": executions > (figures.get("seeds") or 0),  # 10 s on a busy machine may only read the seeds
    }
    (OUTPUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    tail = output[-4000:]
    assert "Uncaught Python exception" not in output and "ERROR: libFuzzer" not in output, tail
    assert done.returncode == 0, tail
    assert set(artifacts.iterdir()) == before, f"crash inputs saved in {artifacts}: {tail}"
    assert re.search(r"^Done \d+ runs in \d+ second", output, re.M) and executions > 0, f"the fuzzer did not run: {tail}"

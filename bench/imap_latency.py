"""How soon a complaint delivered to the watched Dovecot mailbox has its case
and acknowledgement draft in the approval folder, with the daemon running
(the target: a median within 2 seconds over 20 messages).

The daemon polls only every 60 s here, so a fast answer can only come from
IMAP IDLE waking it. Each run delivers one complaint from a new resident and
times from just before the APPEND until a separate connection finds the draft
replying to it (In-Reply-To its Message-ID) in Drafts.

Usage: .venv/bin/python bench/imap_latency.py [--runs N] [--gap SECONDS]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import Dovecot, SmtpSink, imap_config  # noqa: E402

USER = "complaints@example.test"
PASSWORD_ENV = "MAILCOMPLAINTS_BENCH_IMAP_PASSWORD"
ENV = os.environ | {PASSWORD_ENV: "secret"}
TARGET_SECONDS = 2.0
GIVE_UP_SECONDS = 90  # longer than the 60 s poll: a missed IDLE wake-up shows as ~60 s, not a hang


def write_config(root: Path, imap_port: int, smtp_port: int) -> Path:
    return imap_config(root, user=USER, imap_port=imap_port, smtp_port=smtp_port, password_env=PASSWORD_ENV, extra="[daemon]\npoll_seconds = 60\n")


def complaint(n: int) -> tuple[bytes, str]:
    """A complaint from resident n, with its own subject and body; returns (raw, Message-ID)."""
    msg = EmailMessage()
    msg["From"] = f"Resident {n} <resident{n}@example.net>"
    msg["To"] = f"Complaints <{USER}>"
    msg["Subject"] = f"Complaint {n}: repair not done"
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = make_msgid(domain="resident.example.net")
    msg.set_content(f"I want to make a complaint: repair number {n} at flat {n} has not been done after three visits.\n")
    return msg.as_bytes(), msg["Message-ID"]


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailcomplaints.cli", "--config", str(config), *args],
                          capture_output=True, text=True, env=ENV, timeout=60)


def wait_for_first_round(config: Path, daemon: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited with {daemon.returncode} before its first round")
        done = cli(config, "status", "--json")
        if done.returncode == 0 and json.loads(done.stdout)["daemon"]["last_success"]:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the daemon did not finish a round within {timeout} s")


def time_one(dovecot: Dovecot, watcher, n: int) -> float:
    """Seconds from delivery until the draft answering it is in Drafts."""
    raw, message_id = complaint(n)
    start = time.perf_counter()
    dovecot.deliver(USER, raw, when=datetime.now(timezone.utc))
    while time.perf_counter() - start < GIVE_UP_SECONDS:
        watcher.select_folder("Drafts", readonly=True)
        if watcher.search(["HEADER", "In-Reply-To", message_id]):
            return time.perf_counter() - start
        time.sleep(0.02)
    raise RuntimeError(f"no draft for complaint {n} after {GIVE_UP_SECONDS} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--gap", type=float, default=1.0, help="pause between runs, so the daemon is back in IDLE")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, Dovecot(Path(folder) / "dovecot") as dovecot, SmtpSink() as sink:
        root = Path(folder)
        dovecot.add_user(USER)
        config = write_config(root, dovecot.port, sink.port)
        log = open(root / "daemon.log", "w")
        daemon = subprocess.Popen([sys.executable, "-m", "mailcomplaints.cli", "--config", str(config), "run"],
                                  stdout=log, stderr=subprocess.STDOUT, env=ENV)
        times, rc = [], None
        try:
            wait_for_first_round(config, daemon)
            with dovecot.client(USER) as watcher:
                for n in range(1, options.runs + 1):
                    time.sleep(options.gap)
                    times.append(time_one(dovecot, watcher, n))
        except BaseException:
            print("daemon log tail:\n" + (root / "daemon.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                rc = daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                rc = daemon.wait()
            log.close()
        cases = json.loads(cli(config, "status", "--json").stdout)["cases"]
    ms = sorted(t * 1000 for t in times)
    median = statistics.median(ms)
    p90 = ms[math.ceil(0.9 * len(ms)) - 1]  # nearest rank
    print(f"runs: {len(ms)} (one complaint each, {options.gap:g} s apart; daemon poll_seconds = 60, so IDLE does the waking)")
    print(f"delivery -> acknowledgement draft in Drafts: median {median:.0f} ms, p90 {p90:.0f} ms, min {ms[0]:.0f} ms, max {ms[-1]:.0f} ms")
    print(f"median under {TARGET_SECONDS:g} s: {'yes' if median < TARGET_SECONDS * 1000 else 'NO'}")
    print(f"cases in the database: {cases}")
    print(f"daemon exit code after SIGTERM: {rc}")


if __name__ == "__main__":
    main()

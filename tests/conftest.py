"""Shared fixtures: a landlord's working folder (config, Maildir, SQLite) and
helpers to deliver mail into it and drive the CLI as a user would.

The CLI runs as a subprocess, exactly as scripts and the acceptance checks
run it, with `--now` fixing the clock for each invocation.
"""

from __future__ import annotations

import email
import itertools
import json as jsonlib
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Callable

import pytest

from databases import BACKEND, database_url, postgres_available, shared_postgres, stop_shared_postgres
from mailcomplaints.service.setup import config_text

OUR_ADDRESS = "complaints@reliance.example.org"
# Monday 23 November 2026, GMT (London time equals UTC in November).
DEFAULT_NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
_unique = itertools.count(1)


def make_email(from_addr: str, subject: str, body: str, message_id: str | None = None,
               headers: dict[str, str] | None = None) -> bytes:
    """An RFC 5322 message to the complaints mailbox. `from_addr` may be
    "Name <addr>"; `headers` adds or replaces headers (In-Reply-To, Auto-Submitted...)."""
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["From"] = from_addr
    msg["To"] = f"Complaints <{OUR_ADDRESS}>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(DEFAULT_NOW)
    msg["Message-ID"] = message_id or make_msgid(domain="resident.example.net")
    for name, value in (headers or {}).items():
        del msg[name]
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def message_id_of(raw: bytes) -> str:
    return (email.message_from_bytes(raw).get("Message-ID") or "").strip()


def body_of(path: Path) -> str:
    """The plain-text body of a message file, decoded as a mail client shows it."""
    msg = email.message_from_bytes(path.read_bytes(), policy=email_policy.default)
    part = msg.get_body(("plain",))
    return part.get_content() if part is not None else ""


@dataclass
class Landlord:
    """One landlord's folder: `config`, `maildir` and helpers to use them."""

    root: Path
    config: Path
    maildir: Path
    database: Path  # the SQLite file, when the run is on SQLite
    database_url: str = ""
    now: datetime = DEFAULT_NOW
    env: dict[str, str] = field(default_factory=dict)

    # --- the mailbox ---------------------------------------------------------

    def deliver(self, raw: bytes, when: datetime) -> Path:
        """Deliver a message as an MTA would: `<unix-ts>.<unique>.test` in new/."""
        if when.tzinfo is None:
            raise ValueError("deliver() needs a timezone-aware time")
        name = f"{int(when.timestamp())}.M{next(_unique)}R{uuid.uuid4().hex[:8]}.test"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(raw)
        target = self.maildir / "new" / name
        os.replace(tmp, target)
        return target

    def folder_files(self, folder: str) -> list[Path]:
        """Message files in a Maildir++ folder such as ".Sent" or ".Drafts"."""
        base = self.maildir / folder if folder else self.maildir
        return sorted(p for sub in ("new", "cur") if (base / sub).is_dir()
                      for p in (base / sub).iterdir() if p.is_file())

    def sent_files(self) -> list[Path]:
        return self.folder_files(".Sent")

    def draft_files(self) -> list[Path]:
        return self.folder_files(".Drafts")

    # --- the CLI ---------------------------------------------------------------

    def run(self, *args: str, now: datetime | None = None, config: bool = True) -> tuple[int, str, str]:
        """Run `mailcomplaints --config CFG --now NOW ARGS...`; returns (rc, stdout, stderr).
        Without `now`, the last time used (the clock only moves forward)."""
        if now is not None:
            assert now >= self.now, f"--now must only move forward ({now} < {self.now})"
            self.now = now
        command = [sys.executable, "-m", "mailcomplaints.cli"]
        if config:
            command += ["--config", str(self.config)]
        command += ["--now", self.now.isoformat(), *args]
        done = subprocess.run(command, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr

    def json(self, *args: str, now: datetime | None = None) -> Any:
        """Run a command with --json that must succeed, and parse what it printed."""
        rc, out, err = self.run(*args, "--json", now=now)
        assert rc == 0, f"{' '.join(args)} exited {rc}: {err}"
        return jsonlib.loads(out)

    def ok(self, *args: str, now: datetime | None = None) -> str:
        rc, out, err = self.run(*args, now=now)
        assert rc == 0, f"{' '.join(args)} exited {rc}: {err}"
        return out


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCOMPLAINTS_")}
    env.update(MAILCOMPLAINTS_USER="test-officer", NO_COLOR="1", COLUMNS="200", PYTHONIOENCODING="utf-8")
    return env


def wait_until(condition, timeout: float = 15, what: str = "the condition", every: float = 0.1):
    """Poll `condition` until it returns something true (returned), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def assert_bad_input(result: tuple[int, str, str], *must_name: str) -> str:
    """Exit 2, exactly one plain line on stderr, no traceback, naming what to fix."""
    rc, _out, err = result
    assert rc == 2, f"expected exit 2, got {rc}; stderr: {err!r}"
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    for word in must_name:
        assert word.lower() in lines[0].lower(), f"{word!r} is not named in {lines[0]!r}"
    return lines[0]


@pytest.fixture
def make_landlord(tmp_path: Path) -> Callable[..., Landlord]:
    """A factory: make_landlord(policy="housing-solutions", landlord="Housing Solutions")."""
    counter = itertools.count()

    def make(policy: str = "reliance", landlord: str = "Reliance Housing", address: str = OUR_ADDRESS) -> Landlord:
        n = next(counter)
        root = tmp_path if n == 0 else tmp_path / f"landlord{n}"
        root.mkdir(parents=True, exist_ok=True)
        config = root / "mailcomplaints.toml"
        url = database_url(root)
        config.write_text(config_text(landlord=landlord, policy=policy, address=address,
                                      mailbox_path="mailbox", database_url=url))
        maildir = root / "mailbox"
        for sub in ("new", "cur", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        return Landlord(root=root, config=config, maildir=maildir, database=root / "db.sqlite", database_url=url,
                        env=cli_env())

    return make


@pytest.fixture
def landlord(make_landlord: Callable[..., Landlord]) -> Landlord:
    """Reliance Housing on a fresh Maildir and SQLite database in tmp_path."""
    return make_landlord()


# --- the database: SQLite, or one PostgreSQL cluster for the run (MAILCOMPLAINTS_TEST_DATABASE=postgresql) ---

def pytest_report_header(config) -> str:
    return f"mailcomplaints test database: {BACKEND}"


@pytest.fixture(scope="session", autouse=True)
def _database_server():
    if BACKEND == "postgresql" and not postgres_available():
        pytest.exit("MAILCOMPLAINTS_TEST_DATABASE=postgresql, but PostgreSQL is not installed "
                    "(scripts/setup test installs it)", returncode=2)
    yield
    stop_shared_postgres()


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL cluster for tests that need one whichever the run's
    database is: skipped on a machine without it, a failure in CI."""
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed, and CI must test on it (scripts/setup installs it)")
        pytest.skip("PostgreSQL is not installed here")
    return shared_postgres()


# --- real servers: one Dovecot for the session (a user per test), an SMTP sink per test ---

@pytest.fixture(scope="session")
def dovecot(tmp_path_factory):
    from servers import Dovecot, available

    if not available():
        if os.environ.get("CI"):
            pytest.fail("Dovecot is missing in CI: `scripts/setup test` should have installed dovecot-imapd")
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd): the IMAP tests need a real server")
    with Dovecot(tmp_path_factory.mktemp("dovecot")) as server:
        yield server


@pytest.fixture
def sink():
    from servers import SmtpSink

    with SmtpSink() as server:
        yield server

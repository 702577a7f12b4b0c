"""The daemon's log over the whole test corpus holds no message body and no
resident's address: it names cases, messages and drafts by their ids only
(issue #8's log check, on a full run of `mailcomplaints run --once`)."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
START = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def test_a_full_run_logs_ids_not_bodies_or_addresses(landlord):
    messages = sorted(CORPUS.glob("*/*.eml"))[:150]
    addresses, sentences = set(), set()
    for n, path in enumerate(messages):
        raw = path.read_bytes()
        landlord.deliver(raw, START + timedelta(minutes=n))
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        for header in ("From", "To", "Cc"):
            addresses |= {a.lower() for a in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", str(parsed.get(header, "")))}
        body = parsed.get_body(("plain",))
        if body is not None:
            try:
                text = body.get_content()
            except (LookupError, ValueError):
                continue
            sentences |= {line.strip() for line in text.splitlines() if len(line.strip()) >= 40 and not line.startswith(">")}
    addresses.discard("complaints@reliance.example.org")  # our own mailbox may be named
    rc, out, err = landlord.run("run", "--once", now=START + timedelta(days=1))
    log = out + err
    assert rc == 0 and "round processed=" in log and len(sentences) > 50 and len(addresses) > 20
    assert [a for a in addresses if a in log.lower()] == []
    assert [s for s in sentences if s in log] == []


def test_passwords_never_reach_the_log_even_when_refused(tmp_path, dovecot, sink):
    """A daemon round over IMAP and SMTP, then one with a wrong password: the
    log says what failed, and holds neither the password nor the wrong one."""
    import os
    import subprocess
    import sys

    from conftest import cli_env, make_email
    from servers import imap_config

    user, password, wrong = f"passwords-{os.getpid()}@example.test", "Corr3ct-Horse-Battery", "Wr0ng-Staple-Guess"
    dovecot.add_user(user, password)
    config = imap_config(tmp_path, user=user, imap_port=dovecot.port, smtp_port=sink.port, password_env="MC_TEST_IMAP_PW")
    dovecot.deliver(user, make_email("Resident <resident@example.net>", "Damp", "I want to make a complaint about the damp."),
                    when=START)

    def run_once(secret: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mailcomplaints.cli", "--config", str(config),
                               "--now", (START + timedelta(hours=1)).isoformat(), "run", "--once"],
                              capture_output=True, text=True, timeout=120, env=cli_env() | {"MC_TEST_IMAP_PW": secret})

    good, bad = run_once(password), run_once(wrong)
    assert good.returncode == 0 and "round processed=1" in good.stdout + good.stderr
    assert bad.returncode == 1 and "round failed" in bad.stdout + bad.stderr  # the failure is told...
    for log in (good.stdout + good.stderr, bad.stdout + bad.stderr):
        assert password not in log and wrong not in log  # ...without the secret

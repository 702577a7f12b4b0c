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

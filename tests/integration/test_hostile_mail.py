"""Hostile mail (issue #8's list, first part): each message is processed or
quarantined with its reason, in bounded time, never blocking the mail behind
it; and nothing a resident writes reaches a header of our reply."""

from __future__ import annotations

import email
import email.policy
import time
from datetime import datetime, timedelta, timezone

from conftest import OUR_ADDRESS, make_email

START = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def nested(depth: int) -> bytes:
    """Multiparts inside multiparts, `depth` deep (zip-bomb-like structure)."""
    head = b"From: Deep <deep@example.net>\nTo: " + OUR_ADDRESS.encode() + b"\nSubject: nested\nMessage-ID: <deep@example.net>\nMIME-Version: 1.0\n"
    body = b"I want to make a complaint about the lift.\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        body = (b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\n\n--' + boundary + b"\n" + body
                + b"\n--" + boundary + b"--\n")
    return head + body


HOSTILE = {
    "a 1 MB subject": make_email("Long <long@example.net>", "Complaint " + "x" * 1_000_000, "I want to make a complaint about the noise."),
    "10,000 recipients": make_email("Many <many@example.net>", "Complaint about the bins", "I want to make a complaint about the bins.",
                                    headers={"Cc": ", ".join(f"person{n}@example.org" for n in range(10_000))}),
    "nested 200 deep": nested(200),
    "NUL bytes": make_email("Nul <nul@example.net>", "Complaint", "I want to make a complaint\x00 about the \x00damp.").replace(b"damp", b"da\x00mp"),
    "invalid base64": (b"From: B64 <b64@example.net>\nTo: " + OUR_ADDRESS.encode() + b"\nSubject: Complaint\nMessage-ID: <b64@example.net>\n"
                       b"MIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!not base64 at all***\n=\n"),
    "invalid quoted-printable": (b"From: QP <qp@example.net>\nTo: " + OUR_ADDRESS.encode() + b"\nSubject: Complaint\nMessage-ID: <qp@example.net>\n"
                                 b"MIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
                                 b"I want to make a complaint =ZZ =\n=4 broken =C3\n"),
    "header injection": (b"From: =?utf-8?q?Evil=0D=0ABcc:_victim@example.org?= <evil@example.net>\nTo: " + OUR_ADDRESS.encode()
                         + b"\nSubject: =?utf-8?q?Complaint=0D=0ABcc:_another@example.org?=\nMessage-ID: <inject@example.net>\n\n"
                         b"I want to make a complaint: the repair was never done.\n"),  # encoded words that decode to CR LF
}


def test_each_hostile_message_is_processed_or_quarantined_quickly_and_the_next_one_still_arrives(landlord):
    for n, raw in enumerate(HOSTILE.values()):
        landlord.deliver(raw, START + timedelta(minutes=n))
    after = make_email("Jane Doe <jane@example.net>", "Damp", "I want to make a complaint about the damp in my flat.")
    landlord.deliver(after, START + timedelta(minutes=30))
    started = time.monotonic()
    result = landlord.json("ingest", now=START + timedelta(hours=1))
    assert time.monotonic() - started < 120
    assert result["processed"] + result["quarantined"] + result["duplicates"] == len(HOSTILE) + 1  # every one accounted for
    cases = landlord.json("cases")
    assert any(c["complainant"]["email"] == "jane@example.net" for c in cases if isinstance(c.get("complainant"), dict)) \
        or any("jane@example.net" in str(c) for c in cases)  # the mail behind them was not blocked


def test_nothing_a_resident_writes_reaches_a_header_of_our_reply(landlord):
    landlord.deliver(HOSTILE["header injection"], START)
    landlord.json("ingest", now=START + timedelta(minutes=5))
    for draft in landlord.json("drafts"):
        landlord.ok("approve", draft["id"], "--by", "Priya Shah")
    landlord.json("send", now=START + timedelta(minutes=10))
    for path in landlord.sent_files():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message["Bcc"] is None
        assert all("\n" not in str(value) and "\r" not in str(value) for value in message.values())
        assert "another@example.org" not in str(message.get("To", "")) + str(message.get("Cc", ""))
        assert "victim@example.org" not in str(message.get("To", "")) + str(message.get("Cc", ""))

"""A loop with another auto-responder that the header rules miss: a daily
limit of automatic drafts to one address stops it, the mail is still kept and
the case says why; a resident wrongly taken for a machine can be trusted."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from conftest import make_email

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def robot_mail(landlord, count: int) -> list[str]:
    for n in range(count):  # a robot that looks like a person: no Auto-Submitted, a new subject each time
        landlord.deliver(make_email("Sam Jones <sam.jones@example.net>", f"Complaint about repairs ({n})",
                                    f"I want to make a complaint: repair {n} has not been done, nobody has come."),
                         MONDAY + timedelta(minutes=n))
    return landlord.json("ingest", now=MONDAY + timedelta(hours=1))["new_cases"]


def test_the_daily_limit_holds_drafts_but_keeps_every_message(landlord):
    landlord.config.write_text(landlord.config.read_text() + "\n[cases]\ndrafts_per_sender_per_day = 3\n")
    cases = robot_mail(landlord, 5)
    assert len(cases) == 5 and landlord.json("status")["messages"] == 5  # nothing lost
    assert len(landlord.json("drafts")) == 3
    held = landlord.json("case", cases[-1])
    assert "draft_held" in held["flags"] and any("trusted_senders" in e["reason"] for e in held["events"])


def test_a_trusted_sender_is_never_held(landlord):
    landlord.config.write_text(landlord.config.read_text()
                               + '\n[cases]\ndrafts_per_sender_per_day = 3\ntrusted_senders = ["Sam.Jones@example.net"]\n')
    robot_mail(landlord, 5)
    assert len(landlord.json("drafts")) == 5

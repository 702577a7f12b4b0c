"""The daily digest `tick` sends the team: once a working day, from the
configured time, listing what is overdue, due today and due next."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone

from conftest import make_email

MONDAY_EARLY = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def digests(landlord) -> list[email.message.EmailMessage]:
    found = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in landlord.sent_files()]
    return [m for m in found if m["To"] == "team@reliance.example.org"]


def test_one_digest_a_working_day_lists_what_is_due(landlord):
    text = landlord.config.read_text().replace('default_officer = "Complaints Team"',
                                               'default_officer = "Complaints Team"\nemail = "team@reliance.example.org"')
    landlord.config.write_text(text + '\n[daemon]\ndigest_time = "10:30"\n')
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "Damp", "I want to make a complaint about the damp in my flat."),
                     datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc))  # Friday: Reliance acknowledges by Tuesday 24
    (reference,) = landlord.json("ingest", now=MONDAY_EARLY)["new_cases"]
    assert landlord.json("tick", now=MONDAY_EARLY)["digest"] is False and digests(landlord) == []  # before 10:30
    assert landlord.json("tick", now=datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc))["digest"] is True
    (digest,) = digests(landlord)
    body = digest.get_body(("plain",)).get_content()
    assert digest["Auto-Submitted"] == "auto-replied"
    assert "Due Tuesday 24 November 2026 (1)" in body and f"{reference}  stage 1 acknowledgement" in body
    assert "Overdue (0)" in body
    assert landlord.json("tick", now=datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc))["digest"] is False  # once a day
    landlord.json("tick", now=datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc))  # Wednesday: not acknowledged, overdue
    body = digests(landlord)[-1].get_body(("plain",)).get_content()
    assert "Overdue (1)" in body and f"{reference}  stage 1 acknowledgement, due Tuesday 24 November 2026" in body
    assert landlord.json("tick", now=datetime(2026, 11, 28, 11, 0, tzinfo=timezone.utc))["digest"] is False  # a Saturday
    assert len(digests(landlord)) == 2

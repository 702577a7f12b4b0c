"""Approval: the four-eyes rules, kinds the config lets go by themselves, and
complaints logged from a phone call or a letter, answered by post."""

from __future__ import annotations

import email
import email.policy
import io
import re
from datetime import datetime, timedelta, timezone

import pypdf
from conftest import make_email

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
COMPLAINT = "I want to make a complaint: the damp in my bedroom has been reported three times and nobody has come."


def test_whoever_wrote_a_response_may_not_approve_it(landlord):
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "Damp", COMPLAINT), MONDAY)
    reference = landlord.json("ingest", now=MONDAY + timedelta(minutes=5))["new_cases"][0]
    draft = landlord.json("draft", reference, "response", "--outcome", "upheld", "--by", "Tom Okafor", now=MONDAY + timedelta(days=3))
    rc, _, err = landlord.run("approve", draft["id"], "--by", "Tom Okafor", "--override", "placeholders are fine for this test")
    assert rc == 0  # an override records why
    assert landlord.json("drafts")[-1]["override_reason"] == "placeholders are fine for this test"
    again = landlord.json("draft", reference, "response", "--outcome", "upheld", "--by", "Tom Okafor")
    rc, _, err = landlord.run("approve", again["id"], "--by", "tom okafor")
    assert rc == 2 and "another person must approve it" in err and "placeholder" in err


def test_whoever_last_edited_a_response_may_not_approve_it_and_what_they_wrote_is_what_goes(landlord):
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "Damp", COMPLAINT), MONDAY)
    reference = landlord.json("ingest", now=MONDAY + timedelta(minutes=5))["new_cases"][0]
    draft = landlord.json("draft", reference, "response", "--outcome", "upheld", "--by", "Tom Okafor", now=MONDAY + timedelta(days=3))
    (path,) = [p for p in landlord.draft_files() if draft["id"] in p.read_text(errors="replace")]
    written = email.message_from_bytes(path.read_bytes(), policy=email.policy.default).get_body(("plain",)).get_content()
    findings = re.sub(r"\[\[OFFICER TO COMPLETE[^\]]*\]\]", "We found the extractor fan was never fitted & we will fit it.", written)
    (landlord.root / "edited.txt").write_text(findings)
    edited = landlord.json("edit", draft["id"], "--by", "Priya Shah", "--file", str(landlord.root / "edited.txt"))
    assert edited["edited_by"] == "Priya Shah"
    rc, _, err = landlord.run("approve", draft["id"], "--by", "Priya Shah")
    assert rc == 2 and "Priya Shah last edited this response, and another person must approve it" in err
    landlord.ok("approve", draft["id"], "--by", "Tom Okafor")  # the lint passes: the placeholders are filled
    landlord.json("send", now=MONDAY + timedelta(days=3, hours=1))
    (sent,) = landlord.sent_files()
    message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    assert "extractor fan was never fitted" in message.get_body(("plain",)).get_content()
    assert "fan was never fitted &amp; we will fit it" in message.get_body(("html",)).get_content()  # both parts say it
    (letter,) = [part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]
    pdf_text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(letter.get_content())).pages)
    assert "extractor fan was never fitted" in " ".join(pdf_text.split())
    events = [e["kind"] for e in landlord.json("case", reference)["events"]]
    assert "edited" in events


def test_kinds_the_config_allows_go_out_by_themselves_marked_automatic(landlord):
    landlord.config.write_text(landlord.config.read_text() + '\n[approval]\nauto_send = ["acknowledgement"]\n')
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "Damp", COMPLAINT), MONDAY)
    landlord.json("ingest", now=MONDAY + timedelta(minutes=5))
    (draft,) = landlord.json("drafts")
    assert (draft["state"], draft["approved_by"]) == ("approved", "mailcomplaints (automatic)")
    landlord.json("send", now=MONDAY + timedelta(minutes=6))
    (sent,) = landlord.sent_files()
    message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    assert message["Auto-Submitted"] == "auto-replied" and message["X-Auto-Response-Suppress"] == "All"
    assert any(part.get_content_type() == "application/pdf" for part in message.iter_attachments())


def test_a_response_may_never_go_by_itself(landlord):
    landlord.config.write_text(landlord.config.read_text() + '\n[approval]\nauto_send = ["response"]\n')
    rc, _, err = landlord.run("status")
    assert rc == 2 and "auto_send" in err and "response" in err


def test_a_phone_complaint_with_no_email_is_answered_by_post(landlord):
    case = landlord.json("log", "--name", "Albert Moss", "--address", "4 Mill Lane, Newtown NT2 3AB", "--channel", "phone",
                         "--received", "2026-11-23T09:15:00+00:00", "--summary", "Front door will not lock and nobody has come",
                         now=MONDAY)
    assert (case["kind"], case["channel"], case["stage"]) == ("complaint", "phone", 1)
    # Reliance: acknowledged within 2 working days of receipt (Monday 23 -> Wednesday 25 November)
    assert next(d["due"] for d in case["deadlines"] if d["kind"] == "acknowledge") == "2026-11-25"
    (draft,) = landlord.json("drafts")
    assert draft["postal"] and draft["pdf"] and draft["to"] == []
    landlord.ok("approve", draft["id"], "--by", "Priya Shah")
    assert landlord.json("send", now=MONDAY + timedelta(hours=1)) == []  # a letter is posted, not emailed
    posted = landlord.json("posted", draft["id"], "--by", "Priya Shah", now=MONDAY + timedelta(hours=2))
    assert posted["state"] == "sent"
    after = landlord.json("case", case["reference"])
    assert after["state"] == "investigating"
    assert next(d for d in after["deadlines"] if d["kind"] == "acknowledge")["status"] == "met"
    rc, _, err = landlord.run("log", "--name", "No Contact", "--channel", "phone", "--summary", "x")
    assert rc == 2 and "--address" in err

"""Which case a message joins: the threading rules in order."""

from datetime import datetime, timezone

from mailcomplaints.domain.threading import references_in, thread
from mailcomplaints.mail.message import Address, Message

AT = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
KNOWN_MESSAGES = {"<ack-1@mailcomplaints.landlord.example.org>": "CMP-000001"}
KNOWN_CASES = {"CMP-000001", "CMP-000002"}


def message(subject="Hello", text="", in_reply_to=None, references=()):
    return Message(message_id="<new@example.net>", subject=subject, sender=Address("", "r@example.net"), to=(), cc=(),
                   delivered_at=AT, text=text, in_reply_to=in_reply_to, references=references)


def decide(msg):
    return thread(msg, KNOWN_MESSAGES.get, KNOWN_CASES.__contains__)


def test_a_reply_to_our_message_joins_its_case_whatever_the_subject():
    decision = decide(message("Re: something else entirely", in_reply_to="<ack-1@mailcomplaints.landlord.example.org>"))
    assert (decision.reference, decision.rule) == ("CMP-000001", "in_reply_to")


def test_references_are_searched_when_in_reply_to_is_unknown():
    decision = decide(message(in_reply_to="<unknown@x>", references=("<ack-1@mailcomplaints.landlord.example.org>", "<unknown@x>")))
    assert decision.reference == "CMP-000001"


def test_a_reference_in_the_subject_or_body_joins_that_case():
    assert decide(message("Your complaint CMP-000002 - damp")).rule == "reference_in_subject"
    body = decide(message("New subject", "About my complaint cmp-000002, here are photos"))
    assert (body.reference, body.rule) == ("CMP-000002", "reference_in_body")


def test_an_unknown_reference_or_nothing_starts_a_new_case():
    assert decide(message("About CMP-999999")).reference is None
    assert decide(message("Damp in my flat", "It is awful")).rule == "new_thread"


def test_references_in_text():
    assert references_in("CMP-000001 and cmp-000002, not CMP-12") == ["CMP-000001", "CMP-000002"]

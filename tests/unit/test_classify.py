"""Each classification rule, and the intent the engine decides from them."""

from datetime import datetime, timezone

import pytest

from mailcomplaints.domain.classify import FLAG_RULES, INTENT_RULES, MACHINE_RULES, Context, classify
from mailcomplaints.mail.message import Address, Message

OURS = Context("complaints@landlord.example.org")
AT = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def message(text="", subject="Hello", sender="resident@example.net", headers=None, message_id="<m1@example.net>"):
    return Message(message_id=message_id, subject=subject, sender=Address("A Resident", sender), to=(), cc=(),
                   delivered_at=AT, text=text, headers=headers or {}, new_text=text)


def test_every_rule_has_a_name_and_a_description():
    for rule in MACHINE_RULES + INTENT_RULES + FLAG_RULES:
        assert rule.name and rule.description


@pytest.mark.parametrize("headers, subject, sender, rule", [
    ({"auto-submitted": "auto-replied"}, "Hi", "a@example.net", "auto_submitted"),
    ({"precedence": "bulk"}, "Hi", "a@example.net", "precedence"),
    ({"x-autoreply": "yes"}, "Hi", "a@example.net", "x_autoreply"),
    ({"x-ms-exchange-inbox-rules-loop": "a@example.net"}, "Hi", "a@example.net", "inbox_rules_loop"),
    ({}, "Automatic reply: Your complaint", "a@example.net", "auto_reply_subject"),
    ({}, "Out of Office: back Monday", "a@example.net", "auto_reply_subject"),
    ({"content-type": "multipart/report; report-type=delivery-status"}, "Undelivered", "a@example.net", "bounce"),
    ({}, "Undelivered Mail", "MAILER-DAEMON@mx.example.net".lower(), "bounce"),
    ({"return-path": "<>"}, "Failure", "a@example.net", "bounce"),
    ({"list-id": "<news.example.net>"}, "Newsletter", "a@example.net", "mailing_list"),
    ({}, "Copy", OURS.ours, "own_mail"),
    ({"x-mailcomplaints-draft": "d-1"}, "Copy", "a@example.net", "own_mail"),
])
def test_machine_mail_is_recognised_with_its_evidence(headers, subject, sender, rule):
    verdict = classify(message("Some text", subject, sender, headers), OURS)
    assert verdict.machine
    assert rule in [s.name for s in verdict.signals]
    assert verdict.intent(threaded=True) == verdict.intent(threaded=False) == "machine"


@pytest.mark.parametrize("headers", [{"auto-submitted": "no"}, {"x-auto-response-suppress": "All"}])
def test_what_does_not_make_mail_automatic(headers):
    # Auto-Submitted: no is a person; X-Auto-Response-Suppress asks *us* not to auto-reply.
    assert not classify(message("I am not happy with the repair", headers=headers), OURS).machine


@pytest.mark.parametrize("text, threaded, intent", [
    ("I want to make a complaint about the damp in my flat.", False, "new_complaint"),
    ("Just wanted to say thank you to the plumber, brilliant job.", False, "compliment"),
    ("Thank you for nothing, I am not happy at all.", False, "new_complaint"),
    ("I would like to report a repair: the kitchen tap drips. Could someone come and look?", False, "service_request"),
    ("Hello, what day are bins collected?", False, "enquiry"),
    ("Please escalate my complaint to stage 2.", True, "escalation_request"),
    ("I want my complaint reviewed by a senior manager.", True, "escalation_request"),
    ("Please withdraw my complaint, it has been sorted. Thanks.", True, "withdrawal"),
    ("Here are the photos you asked for.", True, "further_information"),
])
def test_intent(text, threaded, intent):
    assert classify(message(text), OURS).intent(threaded=threaded) == intent


@pytest.mark.parametrize("text, flag", [
    ("I am writing on behalf of my mother, who is 83.", "representative"),
    ("Office of Jane Example MP, on behalf of our constituent", "representative"),
    ("My son has asthma and the mould is getting worse.", "vulnerability"),
    ("There is black mould on the bedroom wall.", "health_and_safety"),
    ("I will go to the Housing Ombudsman.", "ombudsman_mentioned"),
    ("My solicitor will be in touch.", "legal_action"),
    ("I will take you to court over this.", "legal_action"),
])
def test_flags_carry_the_words_that_raised_them(text, flag):
    verdict = classify(message(text), OURS)
    assert flag in verdict.flags
    evidence = next(s.evidence for s in verdict.signals if s.name == flag)
    assert evidence.lower() in text.lower()


def test_an_address_is_not_legal_action():
    assert "legal_action" not in classify(message("I live at 4 Birch Court, and the roof leaks."), OURS).flags

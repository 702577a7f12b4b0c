"""What must hold for any bytes that arrive, checked by the fuzz target
(fuzz/mail_pipeline.py) and by the Hypothesis tests alike.

`check(raw)` runs the pure pipeline — parse, classify, thread against an
in-memory case index — then builds the headers of the reply we would draft,
exactly as the drafting service does, and asserts:

- parsing either gives a Message or raises UnreadableMessage (to be
  quarantined with its reason); nothing else escapes;
- every address we could reply to or copy (the sender, To and Cc, which the
  policy may copy) is one address, and the drafted reply's To holds exactly it;
- no header of that reply holds a CR or LF, no Bcc appears, and its Subject is
  ours ("Your complaint CMP-… - …") with the resident's words on one line;
- the message's own fields stay bounded and single-line where they are
  headers (Message-ID, subject, In-Reply-To, References);
- classification gives a documented intent and short evidence, and threading
  names a case the index holds (or none) by a known rule.

No database, no clock, no network.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy as email_policy
from types import SimpleNamespace

from mailcomplaints.domain.classify import INTENTS, Context, classify
from mailcomplaints.domain.threading import fingerprint, subject_key, thread
from mailcomplaints.drafting.compose import compose
from mailcomplaints.mail.message import Message, UnreadableMessage, parse_message
from mailcomplaints.service.drafts import clean_subject, subject_for

AT = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
OURS = "complaints@landlord.example.org"
CONTEXT = Context(ours=OURS, time_limit_months=12, trusted=("team@landlord.example.org",))
THREAD_RULES = {"reference_in_new_text", "reference_in_subject", "in_reply_to", "conversation", "forward_of_known",
                "resend_of_known", "reference_in_quote", "same_sender_subject", "new_thread", "rewritten_subject"}
# One plain addr-spec: a dot-atom local part, "@", a host name; ASCII, lower case.
ADDRESS = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


@dataclass
class CaseIndex:
    """The store's lookups (domain.threading.Lookups) over dictionaries: a few
    cases the seeds refer to, some closed, so every threading rule can fire."""

    messages: dict[str, str] = field(default_factory=lambda: {
        "<known-1@example.net>": "CMP-000001", "<draft-1.abc@mailcomplaints.landlord.example.org>": "CMP-000001",
        "<known-2@example.net>": "CMP-000002", "<closed-3@example.net>": "CMP-000003"})
    conversations: dict[str, str] = field(default_factory=lambda: {"AAQkADconv1": "CMP-000002"})
    fingerprints: dict[str, tuple[str, str]] = field(default_factory=dict)
    subjects: dict[tuple[str, str], str] = field(default_factory=lambda: {
        ("jane@example.net", "damp in bedroom"): "CMP-000001", ("sam@example.com", "boiler"): "CMP-000002"})
    closed: set[str] = field(default_factory=lambda: {"CMP-000003"})
    case_subjects: dict[str, set[str]] = field(default_factory=lambda: {
        "CMP-000001": {"damp in bedroom"}, "CMP-000002": {"boiler"}, "CMP-000003": {"rent statement"}})

    def __post_init__(self) -> None:
        words = "I want to make a complaint about the damp in my bedroom, it has been there for weeks now."
        self.fingerprints[fingerprint(words)] = ("CMP-000001", "jane@example.net")

    def case_exists(self, reference: str) -> bool:
        return reference in self.case_subjects

    def case_of_message(self, message_id: str) -> str | None:
        return self.messages.get(message_id)

    def case_of_conversation(self, conversation_id: str) -> str | None:
        return self.conversations.get(conversation_id)

    def case_of_fingerprint(self, value: str, sender: str | None = None) -> str | None:
        found = self.fingerprints.get(value)
        return found[0] if found and (sender is None or sender == found[1]) else None

    def open_case_of(self, sender: str, key: str) -> str | None:
        reference = self.subjects.get((sender, key))
        return reference if reference and reference not in self.closed else None

    def case_is_closed(self, reference: str) -> bool:
        return reference in self.closed

    def subjects_of(self, reference: str) -> set[str]:
        return self.case_subjects.get(reference, set())


INDEX = CaseIndex()


def _one_line(value: str, name: str, limit: int) -> None:
    assert "\r" not in value and "\n" not in value, f"{name} holds a line break: {value[:80]!r}"
    assert len(value) <= limit, f"{name} is {len(value)} characters long"


def check_message(message: Message) -> None:
    _one_line(message.message_id, "Message-ID", 1000)
    assert message.message_id.startswith("<") and message.message_id.endswith(">"), message.message_id[:80]
    _one_line(message.subject, "subject", 2000)
    for value in (message.in_reply_to or "", *message.references):
        _one_line(value, "a thread id", 1000)
    assert len(message.to) <= 500 and len(message.cc) <= 500 and len(message.references) <= 50
    for address in (*([message.sender] if message.sender else []), *message.to, *message.cc):
        assert ADDRESS.fullmatch(address.email), f"not one address: {address.email!r}"
        assert address.email == address.email.strip().lower()
        _one_line(address.name, "a display name", 300)


def check_reply(message: Message) -> None:
    """The reply the drafting service would make to this message's sender,
    copied to those the policy may copy, parsed back as a mail client would."""
    if message.sender is None:
        return
    copies = [a.email for a in (*message.to, *message.cc) if a.email not in (OURS, message.sender.email)][:50]
    subject = subject_for("acknowledgement", SimpleNamespace(reference="CMP-000009", subject=clean_subject(message.subject)))
    raw = compose(draft_id="d-fuzz", message_id="<d-fuzz.1@mailcomplaints.landlord.example.org>",
                  sender_name="Complaints Team, Landlord", sender=OURS, to=[message.sender.email], cc=copies,
                  subject=subject, body="Thank you for your complaint.", date=AT, in_reply_to=message.message_id)
    reply = email.message_from_bytes(raw, policy=email_policy.default)
    for name, value in reply.items():
        _one_line(str(value), f"our reply's {name}", 10_000)
    assert reply["Bcc"] is None
    to = [a.addr_spec for a in reply["To"].addresses]
    assert len(to) == 1, f"our reply would go to {to} (sender {message.sender.email!r})"
    if copies:
        assert len(reply["Cc"].addresses) == len(copies), f"copies {copies} became {reply['Cc'].addresses}"
    assert str(reply["Subject"]).strip().startswith("Your complaint CMP-000009 - ")
    names = [name.lower() for name in reply.keys()]
    assert sorted(names) == sorted(["mime-version", "content-type", "content-transfer-encoding", "from", "to", "subject",
                                    "date", "message-id", "in-reply-to", "references", "x-mailcomplaints-draft"]
                                   + (["cc"] if copies else [])), names


def check(raw: bytes) -> Message | None:
    """Every property, for one input. Returns the message (None: unreadable)."""
    try:
        message = parse_message(raw, AT)
    except UnreadableMessage as err:
        assert str(err), "an unreadable message needs its reason"
        return None
    assert message.delivered_at == AT
    check_message(message)
    verdict = classify(message, CONTEXT)
    assert verdict.intent(threaded=False) in INTENTS and verdict.intent(threaded=True, responded=True) in INTENTS
    assert all(len(s.evidence) <= 200 for s in verdict.signals)
    decision = thread(message, INDEX)
    assert decision.rule in THREAD_RULES, decision.rule
    assert decision.reference is None or INDEX.case_exists(decision.reference)
    assert len(subject_key(message.subject)) <= 200
    check_reply(message)
    return message

"""Which case a message belongs to: named rules in order of strength, first match wins.

1. our case reference (format configurable, default CMP-000123) in the subject or in what the sender wrote now;
2. In-Reply-To / References pointing at any message of a case (ours or theirs);
3. the backend's conversation id (EWS, Graph);
4. a forward or re-send of a message we hold (an attached original, or the same words);
5. our reference in the quoted history;
6. the same sender and the same normalised subject while the case is open or
   inside its escalation window.

A reply to a closed case's old thread whose subject the resident rewrote opens
a new case linked to the old one. Pure: the store is reached only through the
`Lookups` passed in, so each rule can be tested with plain dictionaries.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from mailcomplaints.domain.references import ANY_REFERENCE, DEFAULT, OUR_LABEL, ReferenceFormat
from mailcomplaints.mail.message import Message
from mailcomplaints.mail.quotes import split_reply

PREFIXES = re.compile(r"^\s*((re|fw|fwd|aw|sv|tr|wg|antw|vs|odp|ynt)\s*(\[\d+\])?\s*:\s*|\[[^\]]{1,20}\]\s*|\((external|ext)\)\s*)+", re.I)
OUR_LABEL_START = re.compile(rf"^\s*{OUR_LABEL}", re.I)
REFERENCE_SHAPED = re.compile(rf"(?<![\w-]){ANY_REFERENCE}(?![\w-])")
GENERIC_SUBJECTS = {"", "complaint", "complaints", "repair", "repairs", "help", "hello", "hi", "enquiry", "query",
                    "no subject", "(no subject)", "urgent", "question", "formal complaint", "re", "fw"}
HEADER_LINE = re.compile(r"^\s*\*?(from|sent|date|to|cc|subject|von|gesendet|an|betreff|de|envoyé|à|objet)\s*:.*$", re.I)


class Lookups(Protocol):
    def case_exists(self, reference: str) -> bool: ...
    def case_of_message(self, message_id: str) -> str | None: ...
    def case_of_conversation(self, conversation_id: str) -> str | None: ...
    def case_of_fingerprint(self, fingerprint: str, sender: str | None = None) -> str | None:
        """The case holding these words; only from `sender`, when given."""
    def open_case_of(self, sender: str, subject_key: str) -> str | None: ...
    def case_is_closed(self, reference: str) -> bool: ...
    def subjects_of(self, reference: str) -> set[str]: ...


@dataclass(frozen=True)
class ThreadDecision:
    reference: str | None  # None: the message starts a new case
    rule: str
    evidence: str
    linked_to: str | None = None  # for a new case that follows on from an old one


def references_in(text: str, refs: ReferenceFormat = DEFAULT) -> list[str]:
    return refs.find_all(text)


def subject_key(subject: str) -> str:
    """'RE: FW: [EXTERNAL] Your complaint CMP-000001 - Damp  in bedroom' -> 'damp in bedroom'."""
    text = subject or ""
    for _ in range(3):  # prefixes and labels can alternate
        text = OUR_LABEL_START.sub("", PREFIXES.sub("", text))
    text = REFERENCE_SHAPED.sub("", text)
    return " ".join(re.sub(r"[^\w£ ]+", " ", text.lower()).split())[:200]


def fingerprint(text: str) -> str | None:
    """A short digest of a message's words, for recognising a re-send or a
    forward of it; None for text too short to be told apart."""
    words = re.findall(r"[a-z0-9£]+", (text or "").lower())
    if len(words) < 8:
        return None
    return hashlib.sha256(" ".join(words[:80]).encode()).hexdigest()[:32]


def forwarded_fingerprint(message: Message) -> str | None:
    """The fingerprint of the message a forward carries inline, from its own
    body (its header block removed, its own quotes cut)."""
    if not message.quoted:
        return None
    lines = [line.lstrip("> ") for line in message.quoted.splitlines()]
    body_start = 0
    for index, line in enumerate(lines[:15]):
        if not (HEADER_LINE.match(line) or not line.strip() or re.search(r"forwarded message|original message|wrote:$", line, re.I)):
            break
        body_start = index + 1
    return fingerprint(split_reply("\n".join(lines[body_start:])).new_text)


def _known(reference: str | None, look: Lookups) -> str | None:
    return reference if reference and look.case_exists(reference) else None


def thread(message: Message, look: Lookups, refs: ReferenceFormat = DEFAULT) -> ThreadDecision:
    for where, text in (("new_text", message.new_text), ("subject", message.subject)):  # what they wrote beats an inherited subject
        for reference in references_in(text, refs):
            if look.case_exists(reference.upper()):
                return ThreadDecision(reference.upper(), f"reference_in_{where}", reference.upper())

    for message_id in message.thread_ids:
        reference = look.case_of_message(message_id)
        if reference:
            return _unless_rewritten(message, reference, look, "in_reply_to", f"answers {message_id}")

    if message.conversation_id:
        reference = look.case_of_conversation(message.conversation_id)
        if reference:
            return ThreadDecision(reference, "conversation", message.conversation_id)

    for message_id in message.embedded_ids:
        reference = look.case_of_message(message_id)
        if reference:
            return ThreadDecision(reference, "forward_of_known", f"carries {message_id}")
    # A re-send is the same words from the same person: a campaign letter that
    # many residents send word for word makes a case for each. A forward may
    # come from anyone (an MP, an advocate).
    sender = message.sender.email if message.sender else ""
    for rule, value, by in (("resend_of_known", fingerprint(message.new_text), sender),
                            ("forward_of_known", forwarded_fingerprint(message), None)):
        reference = look.case_of_fingerprint(value, by) if value else None
        if reference:
            return ThreadDecision(reference, rule, "the same words as a message we hold")

    for reference in references_in(message.quoted, refs):
        if look.case_exists(reference.upper()):
            return _unless_rewritten(message, reference.upper(), look, "reference_in_quote", reference.upper())

    key = subject_key(message.subject)
    if message.sender and key not in GENERIC_SUBJECTS:
        reference = look.open_case_of(message.sender.email, key)
        if reference:
            return ThreadDecision(reference, "same_sender_subject", f"{message.sender.email}: \"{key}\"")
    return ThreadDecision(None, "new_thread", "no known message, reference or subject")


def _unless_rewritten(message: Message, reference: str, look: Lookups, rule: str, evidence: str) -> ThreadDecision:
    """A reply on a closed case's thread under a subject the resident rewrote
    raises a different matter: a new case, linked to the old one."""
    key = subject_key(message.subject)
    if look.case_is_closed(reference) and key and key not in GENERIC_SUBJECTS and key not in look.subjects_of(reference):
        return ThreadDecision(None, "rewritten_subject", f"a new matter on the thread of {reference}: \"{key}\"", linked_to=reference)
    return ThreadDecision(reference, rule, evidence)

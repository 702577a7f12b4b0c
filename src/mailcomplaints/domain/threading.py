"""Which case a message belongs to: one named rule after another, first match wins.

Pure: the store is reached only through the two look-ups passed in, so the
rules can be tested with plain dictionaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from mailcomplaints.mail.message import Message

REFERENCE = re.compile(r"\bCMP-(\d{6})\b", re.I)


@dataclass(frozen=True)
class ThreadDecision:
    reference: str | None  # None: the message starts a new case
    rule: str
    evidence: str


def references_in(text: str) -> list[str]:
    return [f"CMP-{digits}" for digits in REFERENCE.findall(text or "")]


def thread(message: Message,
           case_of_message: Callable[[str], str | None],
           case_exists: Callable[[str], bool]) -> ThreadDecision:
    """Decide the case: a reply to a message we hold, then a reference in the
    subject, then one in the body; otherwise a new case."""
    for message_id in message.thread_ids:
        reference = case_of_message(message_id)
        if reference:
            return ThreadDecision(reference, "in_reply_to", f"answers {message_id}")
    for where, text in (("subject", message.subject), ("body", message.text)):
        for reference in references_in(text):
            if case_exists(reference):
                return ThreadDecision(reference, f"reference_in_{where}", reference)
    return ThreadDecision(None, "new_thread", "no known message or case reference")

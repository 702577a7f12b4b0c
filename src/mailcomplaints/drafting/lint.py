"""The compliance lint: what each kind of draft must hold before a person may
approve it (the Complaint Handling Code's requirements, as data), checked on
the text as the officer left it. Pure: the facts it checks against are passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from mailcomplaints.drafting.render import PLACEHOLDER, longdate

RESIDENT_KINDS = ("acknowledgement", "extension", "response", "escalation_declined", "not_a_complaint", "compliment_thanks")
NEEDS_REDRESS = ("extension", "response", "escalation_declined", "not_a_complaint")


@dataclass(frozen=True)
class LintFacts:
    """What the case says a draft of this kind must state."""

    kind: str
    stage: int
    final_stage: int
    reference: str
    handler: str
    respond_due: date | None = None
    window_end: date | None = None
    redress_telephone: str = ""
    redress_online: tuple[str, ...] = ()  # the complaint form and the website: either will do
    recipients: tuple[str, ...] = ()
    postal_address: str = ""
    extras: dict = field(default_factory=dict)


def _has(text: str, needle: str) -> bool:
    return " ".join(needle.lower().split()) in " ".join(text.lower().split())


def lint(text: str, facts: LintFacts) -> list[str]:
    """Each thing missing, in plain words; an empty list means ready to approve."""
    problems: list[str] = []
    if PLACEHOLDER in text:
        count = text.count(PLACEHOLDER)
        problems.append(f"{count} [[OFFICER TO COMPLETE]] placeholder{'s' if count > 1 else ''} still to fill in")
    if facts.kind not in RESIDENT_KINDS:
        return problems
    if not _has(text, facts.reference):
        problems.append(f"the case reference {facts.reference} is missing")
    if not facts.recipients and not facts.postal_address:
        problems.append("there is no one to send it to: no email address and no postal address")
    if facts.kind == "acknowledgement" and facts.handler and not _has(text, facts.handler):
        problems.append(f"the handling officer ({facts.handler}) is not named")
    if facts.kind in ("acknowledgement", "extension") and facts.respond_due and not _has(text, longdate(facts.respond_due)):
        problems.append(f"the response date does not match the case: it should say {longdate(facts.respond_due)}")
    if facts.kind == "response":
        if facts.stage < facts.final_stage:
            if not re.search(r"stage\s*(2|two)", text, re.I):
                problems.append("it does not say how to ask for stage 2")
            if facts.window_end and not _has(text, longdate(facts.window_end)):
                problems.append(f"it does not give the last day to ask for stage 2 ({longdate(facts.window_end)})")
        elif not re.search(r"final response", text, re.I):
            problems.append("it does not say this is our final response")
    if facts.kind in NEEDS_REDRESS:
        if facts.redress_telephone and not _has(text, facts.redress_telephone):
            problems.append(f"the Ombudsman's telephone number ({facts.redress_telephone}) is missing")
        if facts.redress_online and not any(_has(text, url) for url in facts.redress_online):
            problems.append("the Ombudsman's online complaint form or website is missing")
    return problems

"""Which drafts a case change calls for. Pure: events and verdicts in, draft kinds out."""

from __future__ import annotations

from dataclasses import dataclass

OPENING_DRAFT = {
    "complaint": "acknowledgement",
    "compliment": "compliment_thanks",
    "service_request": "not_a_complaint",
    "not_a_complaint": "not_a_complaint",
}


@dataclass(frozen=True)
class PlannedDraft:
    kind: str
    stage: int
    to_team: bool = False  # reminders go to the team, not the resident


def for_new_case(kind: str) -> list[PlannedDraft]:
    """A new case's first reply (an enquiry gets none: an officer answers it)."""
    draft = OPENING_DRAFT.get(kind)
    return [PlannedDraft(draft, 1)] if draft else []


def for_escalation(verdict: str, stage_from: int) -> list[PlannedDraft]:
    """An accepted escalation is acknowledged at the next stage. A late or
    premature one gets both possible letters, for a person to choose between."""
    if verdict == "accepted":
        return [PlannedDraft("acknowledgement", stage_from + 1)]
    if verdict in ("late", "premature"):
        return [PlannedDraft("acknowledgement", stage_from + 1), PlannedDraft("escalation_declined", stage_from)]
    return []


def superseded_by_decision(accepted: bool) -> str:
    """The draft kind a decision on an escalation makes unnecessary."""
    return "escalation_declined" if accepted else "acknowledgement"

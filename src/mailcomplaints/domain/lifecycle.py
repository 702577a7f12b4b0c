"""How a complaint moves: the table in CONTRACT.md, as pure functions.

A `CaseFile` holds the facts of a case (when each stage was received,
acknowledged and answered, extensions, the escalation awaiting a decision).
Each transition checks that it is allowed, changes the facts and returns the
`Event`s that record who did what, when and why. Deadlines are derived from
the facts by `schedule`, never stored as state of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailcomplaints.domain.calendar import WorkingCalendar, end_of_day, local
from mailcomplaints.domain.deadlines import Deadline, add_extension, rule_due
from mailcomplaints.domain.policy import Policy

KINDS = ("complaint", "compliment", "service_request", "enquiry", "not_a_complaint")
STATES = ("awaiting_acknowledgement", "investigating", "responded", "escalation_review", "closed")
SYSTEM = "mailcomplaints"


class LifecycleError(ValueError):
    """An action the rules refuse; the message says why in one sentence."""


@dataclass
class StageFacts:
    """What happened at one stage. Stage 2's receipt is the escalation request's."""

    stage: int
    received_at: datetime
    acknowledged_at: datetime | None = None
    responded_at: datetime | None = None
    extensions: list[int] = field(default_factory=list)
    outcome: str | None = None


@dataclass
class Event:
    kind: str  # received, acknowledged, extended, escalated, escalation_review, decided, responded, closed, withdrawn, assigned, flagged, corrected
    at: datetime
    actor: str = SYSTEM
    stage: int | None = None
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class CaseFile:
    reference: str
    kind: str
    opened_at: datetime
    stage: int = 1
    state: str = "awaiting_acknowledgement"
    outcome: str | None = None
    flags: set[str] = field(default_factory=set)
    stages: dict[int, StageFacts] = field(default_factory=dict)
    pending_escalation_at: datetime | None = None  # a late or premature request awaiting `decide`
    escalation_decision: str | None = None  # accepted | declined, for the pending request
    window_ended_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def is_complaint(self) -> bool:
        return self.kind == "complaint"


# --- opening -----------------------------------------------------------------

def open_case(reference: str, kind: str, received_at: datetime, actor: str = SYSTEM) -> tuple[CaseFile, list[Event]]:
    """A new case from its first message (or a `log`ged phone call or letter)."""
    if kind not in KINDS:
        raise LifecycleError(f"{kind!r} is not a kind of case; use one of {', '.join(KINDS)}")
    case = CaseFile(reference=reference, kind=kind, opened_at=received_at)
    case.stages[1] = StageFacts(stage=1, received_at=received_at)
    return case, [Event("received", received_at, actor, stage=1, detail={"kind": kind})]


# --- deadlines -----------------------------------------------------------------

def schedule(case: CaseFile, policy: Policy, cal: WorkingCalendar) -> list[Deadline]:
    """Every deadline of the case as its facts stand. Closed cases keep what
    was met and drop what was still pending; non-complaints have none."""
    if not case.is_complaint:
        return []
    out: list[Deadline] = []
    for number in sorted(case.stages):
        facts = case.stages[number]
        ack_rule, resp_rule = policy.rule(number, "acknowledge"), policy.rule(number, "respond")
        ack = Deadline("acknowledge", number, rule_due(ack_rule, facts.received_at, cal), facts.acknowledged_at, ref=ack_rule.ref)
        out.append(ack)
        provisional = False
        if resp_rule.start == "acknowledgement":
            if facts.acknowledged_at is not None:
                due = rule_due(resp_rule, facts.acknowledged_at, cal)
            else:
                due, provisional = cal.add_working_days(ack.due, resp_rule.amount), True
        else:
            due = rule_due(resp_rule, facts.received_at, cal)
        for days in facts.extensions:
            due = add_extension(due, days, cal)
        out.append(Deadline("respond", number, due, facts.responded_at, provisional, resp_rule.ref))
        window_due = escalation_window_due(case, number, policy, cal)
        if window_due is not None:
            ended = case.window_ended_at
            if number + 1 in case.stages and case.pending_escalation_at is None:
                ended = case.stages[number + 1].received_at
            out.append(Deadline("escalation_window", number, window_due, ended, ref=policy.rule(number, "escalation_window").ref))
    if case.state == "closed":
        out = [d for d in out if d.met_at is not None]  # what was met stays on record; the rest is dropped
    return out


def escalation_window_due(case: CaseFile, stage: int, policy: Policy, cal: WorkingCalendar):
    """The last day a resident may ask to escalate from `stage`, or None where
    the stage has not been answered or the policy sets no limit."""
    window = policy.rule(stage, "escalation_window")
    facts = case.stages.get(stage)
    if stage >= policy.final_stage() or facts is None or facts.responded_at is None or window is None or window.unlimited:
        return None
    return rule_due(window, facts.responded_at, cal)


def deadline(case: CaseFile, policy: Policy, cal: WorkingCalendar, kind: str, stage: int) -> Deadline | None:
    return next((d for d in schedule(case, policy, cal) if d.kind == kind and d.stage == stage), None)


# --- transitions ---------------------------------------------------------------

def _require_complaint(case: CaseFile, action: str) -> None:
    if not case.is_complaint:
        raise LifecycleError(f"case {case.reference} is a {case.kind.replace('_', ' ')}, not a complaint, so it cannot be {action}")


def _require_open(case: CaseFile, action: str) -> None:
    if case.state == "closed":
        raise LifecycleError(f"case {case.reference} is closed, so it cannot be {action}")


def _stage(case: CaseFile, stage: int, action: str) -> StageFacts:
    _require_complaint(case, action)
    facts = case.stages.get(stage)
    if facts is None:
        raise LifecycleError(f"case {case.reference} has not reached stage {stage}")
    return facts


def acknowledgement_sent(case: CaseFile, stage: int, at: datetime, actor: str = SYSTEM) -> list[Event]:
    facts = _stage(case, stage, "acknowledged")
    if facts.acknowledged_at is not None:
        return []
    facts.acknowledged_at = at
    if case.stage == stage and case.state == "awaiting_acknowledgement":
        case.state = "investigating"
    return [Event("acknowledged", at, actor, stage=stage)]


def response_sent(case: CaseFile, stage: int, at: datetime, actor: str = SYSTEM, outcome: str | None = None) -> list[Event]:
    facts = _stage(case, stage, "responded to")
    if facts.responded_at is not None:
        return []
    facts.responded_at = at
    if case.pending_escalation_at and case.state != "escalation_review":
        case.pending_escalation_at = None  # a premature request is moot once the response has gone
    if outcome:
        facts.outcome = outcome
    if facts.acknowledged_at is None:
        facts.acknowledged_at = at  # a response acknowledges the complaint too
    if case.stage == stage and case.state != "closed":
        case.state = "responded"
    return [Event("responded", at, actor, stage=stage, detail={"outcome": facts.outcome})]


def extend(case: CaseFile, working_days: int, reason: str, at: datetime, policy: Policy,
           actor: str = SYSTEM, beyond_limit: bool = False) -> list[Event]:
    """Move the current stage's response date N working days on, within the policy's limit."""
    _require_complaint(case, "extended")
    _require_open(case, "extended")
    if working_days <= 0:
        raise LifecycleError("an extension must be at least one working day")
    if not reason.strip():
        raise LifecycleError("an extension needs a reason, which the resident is told")
    facts = case.stages[case.stage]
    if facts.responded_at is not None:
        raise LifecycleError(f"the stage {case.stage} response of case {case.reference} has already been sent")
    limit = policy.rule(case.stage, "extension")
    total = sum(facts.extensions) + working_days
    if limit and not beyond_limit and total > limit.amount:
        raise LifecycleError(
            f"stage {case.stage} extensions may total at most {limit.amount} working days under {policy.name} "
            f"({limit.ref}); this would make {total} — agree it with the resident and pass --agreed to record that"
        )
    facts.extensions.append(working_days)
    return [Event("extended", at, actor, stage=case.stage, reason=reason, detail={"working_days": working_days, "beyond_limit": total > (limit.amount if limit else total)})]


def escalation_requested(case: CaseFile, at: datetime, policy: Policy, cal: WorkingCalendar,
                         actor: str = SYSTEM) -> tuple[str, list[Event]]:
    """A resident asks to escalate. Returns the verdict — accepted, late,
    premature or not_applicable — and the events. Late and premature requests
    are flagged for a person to decide; the tool never refuses by itself."""
    if not case.is_complaint or case.stage >= policy.final_stage():
        return "not_applicable", []
    if case.pending_escalation_at:
        if case.state == "escalation_review":
            return "not_applicable", []  # a late request already waits for a person
        case.pending_escalation_at = None  # a new request replaces an earlier premature one
    if case.state == "closed" and case.outcome == "withdrawn":
        return "not_applicable", []
    first = case.stages[case.stage]
    if first.responded_at is None:
        respond = deadline(case, policy, cal, "respond", case.stage)
        if respond is not None and local(at).date() > respond.due:
            case.flags.add("response_overdue")
            return "accepted", _enter_next_stage(case, at, actor, "the stage 1 response is overdue (response_overdue)")
        case.flags.add("premature_escalation")
        case.pending_escalation_at = at
        return "premature", [Event("flagged", at, actor, stage=case.stage, reason="escalation requested before the stage 1 response was due", detail={"flag": "premature_escalation"})]
    window_due = escalation_window_due(case, case.stage, policy, cal)
    if window_due is not None and at >= end_of_day(window_due):
        case.flags.add("late_escalation")
        case.pending_escalation_at = at
        case.window_ended_at = case.window_ended_at or end_of_day(window_due)
        case.state = "escalation_review"
        case.closed_at = None
        return "late", [Event("escalation_review", at, actor, stage=case.stage,
                              reason=f"escalation requested after the window ended on {window_due.isoformat()}",
                              detail={"flag": "late_escalation", "window_ended": window_due.isoformat()})]
    return "accepted", _enter_next_stage(case, at, actor, "escalation requested inside the window")


def _enter_next_stage(case: CaseFile, at: datetime, actor: str, reason: str) -> list[Event]:
    case.stage += 1
    case.state = "awaiting_acknowledgement"
    case.closed_at = None
    case.outcome = None
    case.stages[case.stage] = StageFacts(stage=case.stage, received_at=at)
    return [Event("escalated", at, actor, stage=case.stage, reason=reason)]


def decide_escalation(case: CaseFile, accept: bool, at: datetime, actor: str, reason: str = "") -> list[Event]:
    """An officer's decision on a late or premature escalation."""
    if case.pending_escalation_at is None:
        raise LifecycleError(f"case {case.reference} has no late or premature escalation waiting for a decision")
    requested = case.pending_escalation_at
    decision = "accepted" if accept else "declined"
    events = [Event("decided", at, actor, stage=case.stage, reason=reason, detail={"escalation": decision})]
    case.pending_escalation_at = None
    if accept:
        case.escalation_decision = None
        events += _enter_next_stage(case, requested, actor, f"escalation accepted by {actor}")
    else:
        case.escalation_decision = "declined"
        if "late_escalation" in case.flags:
            case.state = "escalation_review"
    return events


def escalation_declined_sent(case: CaseFile, at: datetime, actor: str = SYSTEM) -> list[Event]:
    """The letter declining the escalation has gone: a late one closes the case;
    a premature one leaves stage 1 running."""
    case.escalation_decision = None
    if case.state == "escalation_review":
        return close(case, case.stages[case.stage].outcome, at, actor, "escalation declined")
    return []


def escalation_window_ended(case: CaseFile, now: datetime, policy: Policy, cal: WorkingCalendar) -> list[Event]:
    """Scheduled work: a stage response whose window passed unused closes the case."""
    if case.state != "responded" or case.pending_escalation_at:
        return []
    window_due = escalation_window_due(case, case.stage, policy, cal)
    if window_due is None or now < end_of_day(window_due):
        return []
    ended = end_of_day(window_due)
    case.window_ended_at = ended
    return close(case, case.stages[case.stage].outcome, ended, SYSTEM, f"escalation window ended on {window_due.isoformat()} unused")


def withdraw(case: CaseFile, at: datetime, actor: str = SYSTEM) -> list[Event]:
    _require_open(case, "withdrawn")
    events = [Event("withdrawn", at, actor, stage=case.stage)]
    return events + close(case, "withdrawn", at, actor, "withdrawn by the complainant")


def close(case: CaseFile, outcome: str | None, at: datetime, actor: str, reason: str = "") -> list[Event]:
    if case.state == "closed":
        return []
    case.state = "closed"
    case.closed_at = at
    case.pending_escalation_at = None
    if outcome:
        case.outcome = outcome
        if case.is_complaint and case.stages[case.stage].outcome is None and outcome != "withdrawn":
            case.stages[case.stage].outcome = outcome
    return [Event("closed", at, actor, stage=case.stage, reason=reason, detail={"outcome": case.outcome})]


def close_by_officer(case: CaseFile, outcome: str, at: datetime, actor: str, policy: Policy) -> list[Event]:
    """`close REF --outcome`: the outcome must be in the landlord's vocabulary."""
    _require_open(case, "closed again")
    normalised = policy.normalise_outcome(outcome)
    if normalised is None:
        allowed = ", ".join(policy.outcomes)
        raise LifecycleError(f"{outcome!r} is not an outcome {policy.landlord} uses; use one of {allowed}")
    return close(case, normalised, at, actor, "closed by an officer")


def non_complaint_answered(case: CaseFile, at: datetime, actor: str = SYSTEM) -> list[Event]:
    """A compliment, service request or enquiry is closed once its reply is sent."""
    if case.is_complaint:
        return []
    return close(case, None, at, actor, f"{case.kind.replace('_', ' ')} answered")


def change_kind(case: CaseFile, kind: str, at: datetime, reason: str, actor: str = SYSTEM) -> list[Event]:
    """An officer says the case is another kind (a complaint read as a service
    request, or the other way round). A complaint counts from its first receipt."""
    if kind not in KINDS:
        raise LifecycleError(f"{kind!r} is not a kind of case; use one of {', '.join(KINDS)}")
    if kind == case.kind:
        return []
    if case.is_complaint and any(s.acknowledged_at or s.responded_at for s in case.stages.values()):
        raise LifecycleError(f"case {case.reference} has already been acknowledged or answered as a complaint; close it instead")
    previous = case.kind
    case.kind, case.stage, case.state, case.outcome, case.closed_at = kind, 1, "awaiting_acknowledgement", None, None
    case.stages = {1: StageFacts(stage=1, received_at=case.opened_at)}
    return [Event("corrected", at, actor, stage=1, reason=reason, detail={"kind": kind, "previous_kind": previous})]


def become_complaint(case: CaseFile, at: datetime, reason: str, actor: str = SYSTEM) -> list[Event]:
    """A service request, enquiry or not-a-complaint case whose resident is
    dissatisfied becomes a stage 1 complaint, received now."""
    if case.is_complaint:
        return []
    previous = case.kind
    case.kind, case.stage, case.state = "complaint", 1, "awaiting_acknowledgement"
    case.outcome, case.closed_at = None, None
    case.stages = {1: StageFacts(stage=1, received_at=at)}
    return [Event("corrected", at, actor, stage=1, reason=reason, detail={"kind": "complaint", "previous_kind": previous})]


def flag(case: CaseFile, name: str, at: datetime, reason: str, actor: str = SYSTEM) -> list[Event]:
    if name in case.flags:
        return []
    case.flags.add(name)
    return [Event("flagged", at, actor, stage=case.stage, reason=reason, detail={"flag": name})]


def overdue_flags(case: CaseFile, now: datetime, policy: Policy, cal: WorkingCalendar) -> list[Event]:
    """Scheduled work: raise `response_overdue` once a response date has passed."""
    for item in schedule(case, policy, cal):
        if item.kind == "respond" and item.stage == case.stage and item.status(now) == "overdue":
            return flag(case, "response_overdue", now, f"stage {item.stage} response was due {item.due.isoformat()}")
    return []

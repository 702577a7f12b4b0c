"""Deadlines derived from a case's facts, the policy and the calendar.

Nothing here is stored state: a case's deadlines are recomputed from what
happened (receipt, acknowledgement, response, escalation, extensions) every
time, so an extension or a late acknowledgement can never leave a stale date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from mailcomplaints.domain.calendar import WorkingCalendar, end_of_day, local
from mailcomplaints.domain.policy import Rule

STATUSES = ("pending", "due_today", "overdue", "met", "met_late")


@dataclass(frozen=True)
class Deadline:
    kind: str  # acknowledge | respond | escalation_window
    stage: int
    due: date
    met_at: datetime | None = None
    provisional: bool = False  # counts from an acknowledgement not yet sent
    ref: str = ""

    def status(self, now: datetime) -> str:
        """pending, due_today, overdue, met or met_late, as at `now` (London days)."""
        if self.kind == "escalation_window":
            ended = self.met_at is not None or now >= end_of_day(self.due)
            return "met" if ended else "pending"
        if self.met_at is not None:
            return "met" if self.met_at < end_of_day(self.due) else "met_late"
        today = local(now).date()
        if today < self.due:
            return "pending"
        return "due_today" if today == self.due else "overdue"

    def as_dict(self, now: datetime) -> dict:
        return {
            "kind": self.kind,
            "stage": self.stage,
            "due": self.due.isoformat(),
            "met_at": self.met_at.isoformat() if self.met_at else None,
            "status": self.status(now),
            "provisional": self.provisional,
            "ref": self.ref,
        }


def rule_due(rule: Rule, start: datetime, cal: WorkingCalendar) -> date:
    """The last day of a period of `rule` counted from the event at `start`.

    Our own deadlines count from the working day the event counts from (the
    cut-off applies); a resident's escalation window counts from the day we
    sent the response, which is the day they received it."""
    day = local(start).date() if rule.what == "escalation_window" else cal.counting_day(start)
    if rule.unit == "working_days":
        return cal.add_working_days(day, rule.amount)
    if rule.unit == "calendar_days":
        return cal.resident_window_end(day, rule.amount)
    if rule.unit == "weeks":
        return cal.resident_window_end(day, 7 * rule.amount)
    raise ValueError(f"a {rule.what} period cannot be counted in {rule.unit}")


def add_extension(due: date, working_days: int, cal: WorkingCalendar) -> date:
    """An extension moves a due date N working days on from its current date."""
    return cal.add_working_days(due, working_days)

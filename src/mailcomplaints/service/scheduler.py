"""`tick`: the scheduled work, run once (the daemon runs it continuously).

Raises `response_overdue` when a response date passes, drafts one reminder to
the team for each deadline that falls due or goes overdue, and closes cases
whose escalation window ended unused. Idempotent: running it twice at the
same `now` changes nothing the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from mailcomplaints.domain import lifecycle
from mailcomplaints.drafting.plans import PlannedDraft
from mailcomplaints.service.app import App
from mailcomplaints.service.drafts import create_draft, sync_mailbox
from mailcomplaints.service.views import deadline_objects
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import CaseRow, EventRow

log = logging.getLogger("mailcomplaints.tick")
REMIND_ON = ("due_today", "overdue")


@dataclass
class TickResult:
    closed: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    reminders: int = 0

    def as_dict(self) -> dict:
        return {"closed": self.closed, "flagged": self.flagged, "reminders": self.reminders}


def tick(app: App, now: datetime) -> TickResult:
    result = TickResult()
    with app.db.transaction() as session:
        for row in session.scalars(select(CaseRow).where(CaseRow.state != "closed", CaseRow.kind == "complaint")):
            case = repo.to_casefile(row)
            events = lifecycle.overdue_flags(case, now, app.policy, app.calendar)
            if events:
                result.flagged.append(row.reference)
            closing = lifecycle.escalation_window_ended(case, now, app.policy, app.calendar)
            if closing:
                result.closed.append(row.reference)
            repo.save_case(session, row, case, events + closing, app.policy, app.calendar)
            if not closing:
                result.reminders += _remind(app, session, row, now)
    sync_mailbox(app, now)
    return result


def _remind(app: App, session, row: CaseRow, now: datetime) -> int:
    """One reminder per deadline per status (due today, then overdue)."""
    already = {tuple(e.detail.get("key", ())) for e in row.events if e.kind == "reminded"}
    due = [d for d in deadline_objects(row) if d.kind != "escalation_window" and d.status(now) in REMIND_ON]
    fresh = [d for d in due if (d.kind, d.stage, d.due.isoformat(), d.status(now)) not in already]
    if not fresh:
        return 0
    items = [{"kind": d.kind, "stage": d.stage, "due": d.due, "status": d.status(now)} for d in due]
    create_draft(app, session, row, PlannedDraft("reminder", row.stage, to_team=True), now, due_items=items)
    for d in fresh:
        session.add(EventRow(case=row, kind="reminded", at=now, actor=lifecycle.SYSTEM, stage=d.stage,
                             detail={"key": [d.kind, d.stage, d.due.isoformat(), d.status(now)]}))
    log.info("reminder case=%s deadlines=%d", row.reference, len(fresh))
    return 1

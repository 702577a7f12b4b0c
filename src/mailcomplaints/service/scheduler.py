"""`tick`: the scheduled work, run once (the daemon runs it continuously).

Raises `response_overdue` when a response date passes, drafts a reminder to
the team when a deadline is two working days away (and again if it goes
overdue), supersedes reminders once their deadlines are met, and closes cases
whose escalation window ended unused; then removes the personal data whose
retention period has ended ([retention], service/privacy.py), once a day.
Idempotent: running it twice at the same `now` changes nothing the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from mailcomplaints.domain import lifecycle
from mailcomplaints.drafting.plans import PlannedDraft
from mailcomplaints.service.app import App
from mailcomplaints.domain.calendar import local
from mailcomplaints.service.drafts import create_draft, supersede, sync_mailbox
from mailcomplaints.service.digest import send_digest
from mailcomplaints.service.labels import label_drafts
from mailcomplaints.service.privacy import retention
from mailcomplaints.service.views import deadline_objects
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import CaseRow, EventRow

log = logging.getLogger("mailcomplaints.tick")
REMIND_WORKING_DAYS = 2  # remind the team this many working days before a deadline
RETENTION_CURSOR = "retention.last_day"  # the London day retention last ran in tick


@dataclass
class TickResult:
    closed: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    reminders: int = 0
    digest: bool = False
    retention: dict = field(default_factory=lambda: {"cases": [], "counts": {}, "record": None})

    def as_dict(self) -> dict:
        return {"closed": self.closed, "flagged": self.flagged, "reminders": self.reminders, "digest": self.digest,
                "retention": self.retention}


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
            if closing:
                supersede(app, session, row)
            else:
                result.reminders += _remind(app, session, row, now)
    result.retention = _daily_retention(app, now)
    sync_mailbox(app, now)
    label_drafts(app, now)
    result.digest = send_digest(app, now, app.settings.daemon.digest_time)
    return result


def _daily_retention(app: App, now: datetime) -> dict:
    """Personal data past its retention period, removed at the first tick of each
    London day: a case passes its date by the day, and the database is vacuumed
    after a run that removed something, which is worth doing once, not every round."""
    today = local(now).date().isoformat()
    with app.db.transaction() as session:
        if repo.get_cursor(session, RETENTION_CURSOR) == today:
            return {"cases": [], "counts": {}, "record": None}
    done = retention(app, now)
    with app.db.transaction() as session:
        repo.set_cursor(session, RETENTION_CURSOR, today, now)
    return {"cases": done["cases"], "counts": done["counts"], "record": done["record"]}


def _phase(app: App, deadline, now: datetime) -> str | None:
    """'due_soon' within two working days, 'overdue' after; None otherwise."""
    if deadline.kind == "escalation_window" or deadline.met_at is not None:
        return None
    if deadline.status(now) == "overdue":
        return "overdue"
    return "due_soon" if app.calendar.working_days_between(local(now).date(), deadline.due) <= REMIND_WORKING_DAYS else None


def _remind(app: App, session, row: CaseRow, now: datetime) -> int:
    """One reminder per deadline as it comes within two working days, and one
    more if it goes overdue; a reminder no deadline needs any more is superseded."""
    near = [(d, _phase(app, d, now)) for d in deadline_objects(row)]
    near = [(d, phase) for d, phase in near if phase]
    if not near:
        supersede(app, session, row, ("reminder",))
        return 0
    already = {tuple(e.detail.get("key", ())) for e in row.events if e.kind == "reminded"}
    fresh = [(d, phase) for d, phase in near if (d.kind, d.stage, d.due.isoformat(), phase) not in already]
    if not fresh:
        return 0
    items = [{"kind": d.kind, "stage": d.stage, "due": d.due, "status": d.status(now)} for d, _ in near]
    create_draft(app, session, row, PlannedDraft("reminder", row.stage, to_team=True), now, due_items=items)
    for d, phase in fresh:
        session.add(EventRow(case=row, kind="reminded", at=now, actor=lifecycle.SYSTEM, stage=d.stage,
                             detail={"key": [d.kind, d.stage, d.due.isoformat(), phase]}))
    log.info("reminder case=%s deadlines=%d", row.reference, len(fresh))
    return 1

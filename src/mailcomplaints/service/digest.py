"""The daily digest: one internal email a working day to the team address,
listing what is overdue, due today and due on the next working day.

Internal mail to the team, not to a resident, so it goes without approval,
marked Auto-Submitted. Sent once per working day from `[daemon] digest_time`
(London time); the day it went is remembered, so a restart sends it again at
most if the process died between sending and remembering.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, time

from sqlalchemy import select

from mailcomplaints.domain.calendar import local
from mailcomplaints.drafting.compose import compose
from mailcomplaints.drafting.render import longdate
from mailcomplaints.service.app import App
from mailcomplaints.service.views import deadline_objects
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import CaseRow

log = logging.getLogger("mailcomplaints.digest")
WHAT = {"acknowledge": "acknowledgement", "respond": "response"}


def digest_lines(app: App, now: datetime) -> dict[str, list[str]]:
    today = local(now).date()
    tomorrow = app.calendar.next_working_day(today)
    out: dict[str, list[str]] = {"Overdue": [], "Due today": [], f"Due {longdate(tomorrow)}": []}
    with app.db.transaction() as session:
        for case in session.scalars(select(CaseRow).where(CaseRow.state != "closed").order_by(CaseRow.reference)):
            for deadline in deadline_objects(case):
                if deadline.kind not in WHAT or deadline.met_at is not None:
                    continue
                line = f"{case.reference}  stage {deadline.stage} {WHAT[deadline.kind]}, due {longdate(deadline.due)}"
                if deadline.due < today:
                    out["Overdue"].append(line)
                elif deadline.due == today:
                    out["Due today"].append(line)
                elif deadline.due == tomorrow:
                    out[f"Due {longdate(tomorrow)}"].append(line)
    return out


def send_digest(app: App, now: datetime, at: time) -> bool:
    """Send today's digest if it is a working day, past `at`, and not sent yet."""
    team = app.settings.team
    today = local(now).date()
    if not team.email or not app.calendar.is_working_day(today) or local(now).time() < at:
        return False
    with app.db.transaction() as session:
        if repo.get_cursor(session, "digest.sent_on") == today.isoformat():
            return False
    sections = digest_lines(app, now)
    total = sum(len(lines) for lines in sections.values())
    body = [f"Complaints deadlines for {longdate(today)}: {total} to act on.", ""]
    for title, lines in sections.items():
        body += [f"{title} ({len(lines)})", *(f"  {line}" for line in lines or ["none"]), ""]
    body.append("Run `mailcomplaints cases` for the full list.")
    raw = compose(draft_id=f"digest-{today.isoformat()}", message_id=f"<digest-{today.isoformat()}-{uuid.uuid4().hex[:8]}@mailcomplaints>",
                  sender_name=f"{team.name}, {app.settings.landlord.name}", sender=app.settings.mailbox.address, to=[team.email], cc=[],
                  subject=f"Complaints due: {len(sections['Overdue'])} overdue, {len(sections['Due today'])} today", body="\n".join(body),
                  date=now, automatic=True)
    app.mailbox.send(None, raw)
    with app.db.transaction() as session:
        repo.set_cursor(session, "digest.sent_on", today.isoformat(), now)
    log.info("digest sent items=%d", total)
    return True

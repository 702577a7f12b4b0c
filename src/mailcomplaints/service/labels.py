"""Deadlines shown on drafts in the officers' mail client: IMAP keywords
(Thunderbird tags) now, Outlook categories with the Exchange backends.

Officers work in the mailbox, not in our command line; a draft tagged
"Response due 7 Dec" or "Overdue" tells them what matters without leaving it.
Labels are set when they change, and the officers' own tags are left alone.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from mailcomplaints.service.app import App
from mailcomplaints.service.views import deadline_objects
from mailcomplaints.store.models import DraftRow

log = logging.getLogger("mailcomplaints.labels")

SHORT = {"acknowledge": "Ack", "respond": "Response"}
NOT_APPROVED = "Not approved"


def deadline_labels(deadlines, now: datetime) -> list[str]:
    """'Ack due 25 Nov', 'Response due 7 Dec', and 'Due today' or 'Overdue'."""
    labels, states = [], set()
    for deadline in deadlines:
        status = deadline.status(now)
        if deadline.kind not in SHORT or status in ("met", "met_late"):
            continue
        labels.append(f"{SHORT[deadline.kind]} due {deadline.due.day} {deadline.due:%b}")
        states.add(status)
    if "overdue" in states:
        labels.append("Overdue")
    elif "due_today" in states:
        labels.append("Due today")
    return labels


def label_drafts(app: App, now: datetime) -> int:
    """Bring every waiting draft's labels up to date; returns how many changed."""
    changed = 0
    with app.db.transaction() as session:
        drafts = session.scalars(select(DraftRow).where(DraftRow.state == "pending", DraftRow.mailbox_ref.is_not(None))).all()
        for draft in drafts:
            labels = deadline_labels(deadline_objects(draft.case), now)
            if NOT_APPROVED in (draft.labels or []):
                labels.append(NOT_APPROVED)
            if labels != (draft.labels or []):
                app.mailbox.set_labels(draft.mailbox_ref, labels)
                draft.labels = labels
                changed += 1
    return changed

"""`status`: what has been processed, what is waiting, when the mailbox was last read."""

from __future__ import annotations

from sqlalchemy import distinct, func, select

from mailcomplaints.service.app import App
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import CaseRow, DraftRow, MessageRow, QuarantineRow


def status(app: App) -> dict:
    with app.db.transaction() as session:
        count = lambda stmt: session.scalar(stmt) or 0  # noqa: E731
        return {
            "messages": count(select(func.count(distinct(MessageRow.message_id))).where(MessageRow.direction == "in")),
            "quarantined": count(select(func.count()).select_from(QuarantineRow)),
            "cases": count(select(func.count()).select_from(CaseRow)),
            "open_cases": count(select(func.count()).select_from(CaseRow).where(CaseRow.state != "closed")),
            "pending_drafts": count(select(func.count()).select_from(DraftRow).where(DraftRow.state == "pending")),
            "approved_drafts": count(select(func.count()).select_from(DraftRow).where(DraftRow.state.in_(("approved", "sending")))),
            "sent_drafts": count(select(func.count()).select_from(DraftRow).where(DraftRow.state == "sent")),
            "failed_drafts": count(select(func.count()).select_from(DraftRow).where(DraftRow.state == "failed")),
            "last_sync": repo.get_cursor(session, "last_sync"),
            "daemon": {  # written by `run` each round
                "last_success": repo.get_cursor(session, "daemon.last_success"),
                "backlog": int(repo.get_cursor(session, "daemon.backlog") or 0),
                "errors": int(repo.get_cursor(session, "daemon.errors") or 0),
                "last_error": repo.get_cursor(session, "daemon.last_error"),
                "leader": repo.get_cursor(session, "daemon.leader"),  # host, pid and since when, of the daemon that leads
            },
            "database": app.settings.database_url.split("://", 1)[0],
            "backend": app.settings.mailbox.backend,
        }

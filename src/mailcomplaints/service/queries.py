"""Read-only views for the CLI: cases, one case, drafts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from mailcomplaints.service.app import App
from mailcomplaints.service.views import case_dict, draft_dict
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import CaseRow, DraftRow


def list_cases(app: App, now: datetime, state: str | None = None, kind: str | None = None) -> list[dict]:
    with app.db.transaction() as session:
        query = select(CaseRow).order_by(CaseRow.id)
        if state:
            query = query.where(CaseRow.state == state)
        if kind:
            query = query.where(CaseRow.kind == kind)
        return [case_dict(row, now, app.settings.team.default_officer) for row in session.scalars(query)]


def show_case(app: App, reference: str, now: datetime) -> dict:
    with app.db.transaction() as session:
        return case_dict(repo.case_by_reference(session, reference), now, app.settings.team.default_officer, detail=True)


def list_drafts(app: App, state: str | None = None) -> list[dict]:
    with app.db.transaction() as session:
        query = select(DraftRow).order_by(DraftRow.created_at, DraftRow.id)
        if state:
            query = query.where(DraftRow.state == state)
        return [draft_dict(d, with_case=True) for d in session.scalars(query)]


def one_draft(app: App, draft_id: str) -> dict:
    with app.db.transaction() as session:
        return draft_dict(repo.draft_by_id(session, draft_id), with_case=True)

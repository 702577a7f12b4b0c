"""`report`: the complaints performance figures for a period, from the case
record (the computing is domain.reporting; this reads the store)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from mailcomplaints.domain.calendar import local
from mailcomplaints.domain.lifecycle import Event
from mailcomplaints.domain.reporting import Period, build_report, reporting_year
from mailcomplaints.service.app import App
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import CaseRow


class UnknownFigure(ValueError):
    """`report --cases NAME` for a figure the report does not have (bad input)."""


def report(app: App, now: datetime, start: date | None = None, end: date | None = None) -> tuple[dict, dict[str, list[str]]]:
    today = local(now).date()
    default = reporting_year(today)
    period = Period(start or default.start, min(end or default.end, today))  # a period running on counts to today
    with app.db.transaction() as session:
        rows = session.scalars(select(CaseRow).order_by(CaseRow.id)).all()
        cases = [repo.to_casefile(row) for row in rows]
        events = {row.reference: [Event(e.kind, e.at, e.actor, e.stage, e.reason, dict(e.detail or {})) for e in row.events]
                  for row in rows}
    return build_report(cases, events, period, app.settings.landlord.homes, app.calendar, app.policy.outcomes)


def cases_behind(app: App, now: datetime, figure: str, start: date | None = None, end: date | None = None) -> list[str]:
    _, behind = report(app, now, start, end)
    if figure not in behind:
        raise UnknownFigure(f"the report has no figure {figure!r}; figures are: {', '.join(sorted(behind))}")
    return behind[figure]

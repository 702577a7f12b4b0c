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
from mailcomplaints.store.models import CaseRow, DraftRow, MessageRow

OMBUDSMAN_DOMAIN = "housing-ombudsman.org.uk"  # mail from it about a case: a referral or an enquiry
NEED_OMBUDSMAN = ("response", "extension", "escalation_declined", "not_a_complaint")  # the letters that give the Ombudsman's details


class UnknownFigure(ValueError):
    """`report --cases NAME` for a figure the report does not have (bad input)."""


def report(app: App, now: datetime, start: date | None = None, end: date | None = None) -> tuple[dict, dict[str, list[str]]]:
    today = local(now).date()
    default = reporting_year(today)
    period = Period(start or default.start, min(end or default.end, today))  # a period running on counts to today
    with app.db.transaction() as session:
        rows = session.scalars(select(CaseRow).order_by(CaseRow.id)).all()
        cases = [repo.to_casefile(row) for row in rows]
        topics = {row.reference: list(row.topics or []) for row in rows}
        events = {row.reference: [Event(e.kind, e.at, e.actor, e.stage, e.reason, dict(e.detail or {})) for e in row.events]
                  for row in rows}
        referred = sorted({m.case.reference for m in session.scalars(  # the Ombudsman wrote to us about the case
            select(MessageRow).where(MessageRow.direction == "in", MessageRow.case_id.is_not(None),
                                     MessageRow.from_addr.like(f"%@{OMBUDSMAN_DOMAIN}"))) if period.holds(m.received_at)})
        letters = [(d.case.reference, d.override_reason) for d in session.scalars(
            select(DraftRow).where(DraftRow.kind.in_(NEED_OMBUDSMAN), DraftRow.state == "sent")) if period.holds(d.sent_at)]
    figures, behind = build_report(cases, events, period, app.settings.landlord.homes, app.calendar, app.policy.outcomes, topics)
    # The Ombudsman's details in every letter that must give them: the lint checks each before approval,
    # so a letter sent without an override had them; an override is the exception to look at.
    behind["ombudsman_referrals"] = referred
    figures["ombudsman_referrals"] = len(referred)
    behind["ombudsman_details.sent"] = sorted(ref for ref, _ in letters)
    behind["ombudsman_details.overridden"] = sorted(ref for ref, why in letters if why)
    figures["ombudsman_details"] = {"sent": len(letters), "overridden": len(behind["ombudsman_details.overridden"])}
    return figures, behind


def cases_behind(app: App, now: datetime, figure: str, start: date | None = None, end: date | None = None) -> list[str]:
    _, behind = report(app, now, start, end)
    if figure not in behind:
        raise UnknownFigure(f"the report has no figure {figure!r}; figures are: {', '.join(sorted(behind))}")
    return behind[figure]

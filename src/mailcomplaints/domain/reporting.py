"""The complaints performance report, from case facts (CONTRACT.md `report`).

Pure: the cases, their events, the period and the calendar go in; figures
come out, each with the list of case references behind it, so that any
number on a board paper can be traced to the cases (`report --cases FIGURE`).

Definitions, from the Regulator's Tenant Satisfaction Measures and CONTRACT:
- received: complaints whose stage began in the period (stage 2: escalations
  accepted into stage 2, counted from the request).
- CH01: received ÷ homes × 1,000, two decimals.
- responded: stage responses sent in the period. CH02: of those, the share
  sent within the Code's timescales — by the earlier of the acknowledgement
  and receipt + 5 working days, then + 10 working days (stage 1) or + 20
  (stage 2), plus agreed extensions up to 10 or 20 working days — four
  decimals, null when nothing was responded to.
- days to acknowledge and to respond: working days from receipt; median and
  90th percentile (nearest rank).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from mailcomplaints.domain.calendar import WorkingCalendar, local
from mailcomplaints.domain.lifecycle import CaseFile, Event, StageFacts
from mailcomplaints.domain.topics import TOPICS

CODE_RESPONSE = {1: 10, 2: 20}  # working days after acknowledgement (Code 6.3, 6.14)
CODE_EXTENSION = {1: 10, 2: 20}  # the most an extension may add (Code 6.4-6.5, 6.15-6.16)
CODE_ACKNOWLEDGE = 5  # working days from receipt (Code 6.2, 6.11)
SIGNALS = ("health_and_safety", "vulnerability", "representative", "legal_action", "reasonable_adjustment", "asb")
TOPIC_NAMES = tuple(name for name, _, _ in TOPICS)
AGE_BANDS = ((10, "0-10"), (20, "11-20"), (40, "21-40"), (None, "over_40"))  # working days


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= local(moment).date() <= self.end


def reporting_year(today: date) -> Period:
    """The last full reporting year, April to March, before `today`."""
    year = today.year if today.month >= 4 else today.year - 1
    return Period(date(year - 1, 4, 1), date(year, 3, 31))


def code_due(facts: StageFacts, calendar: WorkingCalendar) -> date:
    """The last day a stage response is within the Code's timescales."""
    by_five = calendar.working_days_from(facts.received_at, CODE_ACKNOWLEDGE)
    start = min(local(facts.acknowledged_at).date(), by_five) if facts.acknowledged_at else by_five
    extension = min(sum(facts.extensions), CODE_EXTENSION[facts.stage])
    return calendar.add_working_days(start, CODE_RESPONSE[facts.stage] + extension)


def within_code(facts: StageFacts, calendar: WorkingCalendar) -> bool:
    return facts.responded_at is not None and local(facts.responded_at).date() <= code_due(facts, calendar)


def nearest_rank(values: list[int], share: float) -> int | None:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else None


def spread(values: list[int]) -> dict[str, float | None]:
    return {"median": statistics.median(values) if values else None, "p90": nearest_rank(values, 0.9)}


def _ratio(part: int, whole: int, places: int) -> float | None:
    return round(part / whole, places) if whole else None


def build_report(cases: list[CaseFile], events: dict[str, list[Event]], period: Period, homes: int | None,
                 calendar: WorkingCalendar, outcomes: dict[str, str],
                 topics: dict[str, list[str]] | None = None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(figures, the case references behind each figure by its dotted name).
    `topics` gives each case's categories (domain.topics) by reference."""
    behind: dict[str, list[str]] = {}

    def count(name: str, references: list[str]) -> int:
        behind[name] = sorted(references)
        return len(references)

    complaints = [c for c in cases if c.is_complaint]
    figures: dict[str, Any] = {"period": {"from": period.start.isoformat(), "to": period.end.isoformat()}, "homes": homes}
    for stage in (1, 2):
        at = [(c, c.stages[stage]) for c in complaints if stage in c.stages]
        received = [c.reference for c, s in at if period.holds(s.received_at)]
        answered = [(c, s) for c, s in at if period.holds(s.responded_at)]
        on_time = [c.reference for c, s in answered if within_code(s, calendar)]
        prefix = f"stage{stage}"
        figures[prefix] = {
            "received": count(f"{prefix}.received", received),
            "responded": count(f"{prefix}.responded", [c.reference for c, _ in answered]),
            "responded_within_timescale": count(f"{prefix}.responded_within_timescale", on_time),
            "ch01_per_1000_homes": round(len(received) / homes * 1000, 2) if homes else None,
            "ch02_within_timescale": _ratio(len(on_time), len(answered), 4),
            "responded_late": count(f"{prefix}.responded_late", [c.reference for c, _ in answered if c.reference not in on_time]),
            "extended": count(f"{prefix}.extended", [c.reference for c, s in answered if s.extensions]),
            "extended_beyond_code": count(f"{prefix}.extended_beyond_code",
                                          [c.reference for c, s in answered if sum(s.extensions) > CODE_EXTENSION[stage]]),
            "acknowledged": count(f"{prefix}.acknowledged", [c.reference for c, s in at if period.holds(s.acknowledged_at)]),
            "acknowledged_late": count(f"{prefix}.acknowledged_late", [
                c.reference for c, s in at if period.holds(s.acknowledged_at)
                and local(s.acknowledged_at).date() > calendar.working_days_from(s.received_at, CODE_ACKNOWLEDGE)]),
            "days_to_acknowledge": spread([calendar.working_days_between(local(s.received_at).date(), local(s.acknowledged_at).date())
                                           for c, s in at if period.holds(s.acknowledged_at)]),
            "days_to_respond": spread([calendar.working_days_between(local(s.received_at).date(), local(s.responded_at).date())
                                       for c, s in answered]),
            "outcomes": {key: count(f"{prefix}.outcome.{key}", [c.reference for c, s in answered if s.outcome == key])
                         for key in outcomes},
        }
    figures["escalation_rate"] = _ratio(figures["stage2"]["received"], figures["stage1"]["responded"], 4)
    figures.update(_escalations(complaints, events, period, count))
    opened = [c for c in cases if period.holds(c.opened_at)]
    figures["by_signal"] = {name: count(f"signal.{name}", [c.reference for c in opened if c.is_complaint and name in c.flags])
                            for name in SIGNALS}
    received_now = [c for c in opened if c.is_complaint]
    figures["by_category"] = {name: count(f"category.{name}", [c.reference for c in received_now if name in (topics or {}).get(c.reference, [])])
                              for name in TOPIC_NAMES}
    figures["by_category"]["other"] = count("category.other", [c.reference for c in received_now if not (topics or {}).get(c.reference)])
    figures["compliments"] = count("compliments", [c.reference for c in opened if c.kind == "compliment"])
    figures["ombudsman_mentioned"] = count("ombudsman_mentioned", [c.reference for c in opened if "ombudsman_mentioned" in c.flags])
    figures["open_by_age"] = _open_by_age(complaints, period, calendar, count)
    figures["monthly"] = _monthly(complaints, period, calendar)
    return figures, behind


def _months(period: Period) -> list[str]:
    months, year, month = [], period.start.year, period.start.month
    while (year, month) <= (period.end.year, period.end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _monthly(complaints: list[CaseFile], period: Period, calendar: WorkingCalendar) -> list[dict[str, Any]]:
    """Per month: received at each stage, stage responses, and how many were within the Code."""
    rows = {month: {"month": month, "stage1": 0, "stage2": 0, "responded": 0, "within_timescale": 0} for month in _months(period)}
    for case in complaints:
        for facts in case.stages.values():
            if period.holds(facts.received_at):
                rows[f"{local(facts.received_at):%Y-%m}"][f"stage{facts.stage}"] += 1
            if period.holds(facts.responded_at):
                row = rows[f"{local(facts.responded_at):%Y-%m}"]
                row["responded"] += 1
                row["within_timescale"] += within_code(facts, calendar)
    return list(rows.values())


def _escalations(complaints: list[CaseFile], events: dict[str, list[Event]], period: Period, count) -> dict[str, Any]:
    """Late and premature escalation requests in the period, and how they were decided."""
    found: dict[str, dict[str, list[str]]] = {kind: {"requested": [], "accepted": [], "declined": []} for kind in ("late", "premature")}
    for case in complaints:
        pending = None
        for event in sorted(events.get(case.reference, []), key=lambda e: e.at):
            if event.kind == "escalation_review" or (event.kind == "flagged" and event.detail.get("flag") == "premature_escalation"):
                pending = "late" if event.kind == "escalation_review" else "premature"
                if period.holds(event.at):
                    found[pending]["requested"].append(case.reference)
            elif event.kind == "decided" and pending and period.holds(event.at):
                found[pending][event.detail.get("escalation", "declined")].append(case.reference)
                pending = None
    return {f"{kind}_escalations": {what: count(f"{kind}_escalations.{what}", refs) for what, refs in found[kind].items()}
            for kind in found}


def _open_by_age(complaints: list[CaseFile], period: Period, calendar: WorkingCalendar, count) -> dict[str, int]:
    """Complaints open at the end of the period, by working days since their current stage began."""
    bands: dict[str, list[str]] = {label: [] for _, label in AGE_BANDS}
    for case in complaints:
        if local(case.opened_at).date() > period.end or (case.closed_at and local(case.closed_at).date() <= period.end):
            continue
        current = max((s for s in case.stages.values() if local(s.received_at).date() <= period.end), key=lambda s: s.stage)
        age = calendar.working_days_between(local(current.received_at).date(), period.end)
        label = next(label for limit, label in AGE_BANDS if limit is None or age <= limit)
        bands[label].append(case.reference)
    return {label: count(f"open_by_age.{label}", refs) for label, refs in bands.items()}

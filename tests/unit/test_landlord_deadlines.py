"""Every deadline of a complaint, for each of the five landlords, on real dates.

Each expected date was worked out by hand from a printed calendar; nothing
here is derived from the code under test. Reading aids:

    November 2026          December 2026          January 2027          February 2027
    Mo Tu We Th Fr Sa Su   Mo Tu We Th Fr Sa Su   Mo Tu We Th Fr Sa Su  Mo Tu We Th Fr Sa Su
                       1       1  2  3  4  5  6               1  2  3   1  2  3  4  5  6  7
     2  3  4  5  6  7  8    7  8  9 10 11 12 13    4  5  6  7  8  9 10   8  9 10 11 12 13 14
     9 10 11 12 13 14 15   14 15 16 17 18 19 20   11 12 13 14 15 16 17  15 16 17 18 19 20 21
    16 17 18 19 20 21 22   21 22 23 24 25 26 27   18 19 20 21 22 23 24  22 23 24 25 26 27 28
    23 24 25 26 27 28 29   28 29 30 31            25 26 27 28 29 30 31
    30

England: Fri 25 Dec, Sat 26 Dec, Mon 28 Dec (Boxing Day observed) and Fri 1 Jan
2027 are bank holidays. Scotland adds Mon 30 Nov 2026 (St Andrew's Day) and
Mon 4 Jan 2027 (2 January observed). June 2027 has no bank holiday and is BST.

Working days (England) after Mon 23 Nov: 24=1 25=2 26=3 27=4 30=5, Dec 1=6 2=7
3=8 4=9 7=10 ... Working days after Wed 23 Dec: 24=1 29=2 30=3 31=4, Jan 4=5
5=6 6=7 7=8 8=9 11=10 12=11 ... 25=20.

Timescales (seeds/README.md and the shipped policies; "Code" = inherited):
    Reliance           ack 2 WD, respond 10 WD from receipt, window 10 calendar days,
                       stage 2 ack 5 WD (Code), respond 20 WD from the request
    Housing Solutions  ack 5 WD, respond 10 WD from the acknowledgement, window 21 days,
                       stage 2 ack 5 WD, respond 20 WD from the acknowledgement
    Connect            ack 2 WD, respond 10 WD from receipt, window 3 weeks,
                       stage 2 ack 2 WD, respond 10 WD from the request
    Southway           ack 2 WD, respond 10 WD from receipt, no window,
                       stage 2 ack 2 WD, respond 15 WD from the request
    Alliance Homes     ack 5 WD, respond 10 WD from receipt, window 10 WD,
                       stage 2 ack 5 WD, respond 20 WD from the acknowledgement (Code)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pytest

from mailcomplaints.domain.calendar import LONDON, WorkingCalendar
from mailcomplaints.domain.lifecycle import (
    acknowledgement_sent,
    escalation_requested,
    open_case,
    response_sent,
    schedule,
)
from mailcomplaints.policies import load_policy

ACK1, RESP1, WIN1 = ("acknowledge", 1), ("respond", 1), ("escalation_window", 1)
ACK2, RESP2 = ("acknowledge", 2), ("respond", 2)


def ldn(y, m, d, hh=10, mm=0) -> datetime:
    """A London wall-clock moment."""
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


def utc(y, m, d, hh=10, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=timezone.utc)


def ack(stage, moment):
    return ("ack", stage, moment)


def resp(stage, moment):
    return ("resp", stage, moment)


def esc(moment):
    return ("esc", moment)


@dataclass(frozen=True)
class Row:
    received: datetime
    due: dict
    steps: tuple = ()
    provisional: frozenset = field(default_factory=frozenset)
    nation: str | None = None


def run(policy_name: str, row: Row) -> dict:
    policy = load_policy(policy_name)
    if row.nation is not None:
        policy = dataclasses.replace(policy, nation=row.nation)
    cal = WorkingCalendar(nation=policy.nation, cutoff=policy.cutoff)
    case, _ = open_case("CMP-000001", "complaint", row.received)
    for step in row.steps:
        if step[0] == "ack":
            acknowledgement_sent(case, step[1], step[2])
        elif step[0] == "resp":
            response_sent(case, step[1], step[2])
        else:
            verdict, _ = escalation_requested(case, step[1], policy, cal)
            assert verdict == "accepted", f"escalation at {step[1]} was {verdict}"
    return {(d.kind, d.stage): d for d in schedule(case, policy, cal)}


def check(policy_name: str, row: Row) -> None:
    got = run(policy_name, row)
    assert {key: d.due for key, d in got.items()} == row.due
    assert {key for key, d in got.items() if d.provisional} == set(row.provisional)


# ---- Reliance Housing ---------------------------------------------------------

RELIANCE = {
    # Mon 23 Nov 10:00: ack Mon+2 WD = Wed 25 Nov; respond Mon+10 WD = Mon 7 Dec
    "monday": Row(ldn(2026, 11, 23), {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7)}),
    # 17:00 exactly is not after the cut-off: counts from Mon 23 Nov as above
    "at-cutoff": Row(ldn(2026, 11, 23, 17, 0), {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7)}),
    # 17:30 is after the cut-off: counts from Tue 24 Nov; +2 WD = Thu 26 Nov; +10 WD = Tue 8 Dec
    "after-cutoff": Row(ldn(2026, 11, 23, 17, 30), {ACK1: date(2026, 11, 26), RESP1: date(2026, 12, 8)}),
    # Sat 28 Nov counts from Mon 30 Nov; +2 WD = Wed 2 Dec; +10 WD = Mon 14 Dec
    "saturday": Row(ldn(2026, 11, 28, 11), {ACK1: date(2026, 12, 2), RESP1: date(2026, 12, 14)}),
    # Wed 23 Dec 16:00: +2 WD = Thu 24, Tue 29 Dec (25, 26, 27, 28 off); +10 WD = Mon 11 Jan 2027
    "christmas": Row(ldn(2026, 12, 23, 16), {ACK1: date(2026, 12, 29), RESP1: date(2027, 1, 11)}),
    # Wed 23 Dec 17:30 counts from Thu 24 Dec: +2 WD = Tue 29, Wed 30 Dec; +10 WD = Tue 12 Jan 2027
    "christmas-after-cutoff": Row(ldn(2026, 12, 23, 17, 30), {ACK1: date(2026, 12, 30), RESP1: date(2027, 1, 12)}),
    # Thu 24 Dec 17:30 counts from Tue 29 Dec: +2 WD = Wed 30, Thu 31 Dec; +10 WD = Wed 13 Jan 2027
    "christmas-eve-after-cutoff": Row(ldn(2026, 12, 24, 17, 30), {ACK1: date(2026, 12, 31), RESP1: date(2027, 1, 13)}),
    # Christmas Day (Fri 25 Dec) counts from Tue 29 Dec, as above
    "christmas-day": Row(ldn(2026, 12, 25, 9), {ACK1: date(2026, 12, 31), RESP1: date(2027, 1, 13)}),
    # BST: Fri 4 June 2027 17:30 London (16:30 UTC) is after the cut-off: counts from Mon 7 June; +2 WD = Wed 9; +10 WD = Mon 21 June
    "bst-after-cutoff": Row(utc(2027, 6, 4, 16, 30), {ACK1: date(2027, 6, 9), RESP1: date(2027, 6, 21)}),
    # BST: 16:59 London (15:59 UTC) on Fri 4 June counts that day: +2 WD = Tue 8 June; +10 WD = Fri 18 June
    "bst-before-cutoff": Row(utc(2027, 6, 4, 15, 59), {ACK1: date(2027, 6, 8), RESP1: date(2027, 6, 18)}),
    # BST: 23:30 UTC Thu 3 June is 00:30 Fri 4 June in London: counts from Fri 4 June, as above
    "bst-past-midnight": Row(utc(2027, 6, 3, 23, 30), {ACK1: date(2027, 6, 8), RESP1: date(2027, 6, 18)}),
    # England, Fri 27 Nov: +2 WD = Mon 30 Nov, Tue 1 Dec; +10 WD = Fri 11 Dec
    "england-friday": Row(ldn(2026, 11, 27), {ACK1: date(2026, 12, 1), RESP1: date(2026, 12, 11)}),
    # Scotland, Fri 27 Nov: Mon 30 Nov is St Andrew's Day: +2 WD = Tue 1, Wed 2 Dec; +10 WD = Mon 14 Dec
    "scotland-friday": Row(ldn(2026, 11, 27), {ACK1: date(2026, 12, 2), RESP1: date(2026, 12, 14)}, nation="scotland"),
    # Scotland, on St Andrew's Day itself counts from Tue 1 Dec: +2 WD = Thu 3 Dec; +10 WD = Tue 15 Dec
    "scotland-st-andrews-day": Row(ldn(2026, 11, 30), {ACK1: date(2026, 12, 3), RESP1: date(2026, 12, 15)}, nation="scotland"),
    # Scotland, Wed 23 Dec: +2 WD = Thu 24, Tue 29 Dec; +10 WD skips Fri 1 and Mon 4 Jan: Tue 12 Jan 2027
    "scotland-christmas": Row(ldn(2026, 12, 23, 16), {ACK1: date(2026, 12, 29), RESP1: date(2027, 1, 12)}, nation="scotland"),
    # Answered Wed 2 Dec: window +10 days = Sat 12 Dec, a weekend: runs to Mon 14 Dec
    "window-weekend": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7), WIN1: date(2026, 12, 14)},
        steps=(ack(1, ldn(2026, 11, 24, 9)), resp(1, ldn(2026, 12, 2, 15))),
    ),
    # Answered Thu 26 Nov: window +10 days = Sun 6 Dec: runs to Mon 7 Dec
    "window-sunday": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7), WIN1: date(2026, 12, 7)},
        steps=(resp(1, ldn(2026, 11, 26, 11)),),
    ),
    # Answered Tue 1 Dec: window +10 days = Fri 11 Dec, a working day
    "window-friday": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7), WIN1: date(2026, 12, 11)},
        steps=(resp(1, ldn(2026, 12, 1, 11)),),
    ),
    # Answered Tue 15 Dec: +10 days = Fri 25 Dec; 26, 27, 28 off: runs to Tue 29 Dec
    "window-christmas": Row(
        ldn(2026, 12, 1),  # Tue 1 Dec: ack +2 WD = Thu 3 Dec; respond +10 WD = Tue 15 Dec
        {ACK1: date(2026, 12, 3), RESP1: date(2026, 12, 15), WIN1: date(2026, 12, 29)},
        steps=(resp(1, ldn(2026, 12, 15, 11)),),
    ),
    # Answered Wed 23 Dec: +10 days = Sat 2 Jan 2027: England runs to Mon 4 Jan
    "window-new-year": Row(
        ldn(2026, 12, 9),  # Wed 9 Dec: ack +2 WD = Fri 11 Dec; respond +10 WD = Wed 23 Dec
        {ACK1: date(2026, 12, 11), RESP1: date(2026, 12, 23), WIN1: date(2027, 1, 4)},
        steps=(resp(1, ldn(2026, 12, 23, 11)),),
    ),
    # Same in Scotland: Sat 2 Jan, Sun 3 Jan, Mon 4 Jan (observed) off: runs to Tue 5 Jan
    "window-new-year-scotland": Row(
        ldn(2026, 12, 9),
        {ACK1: date(2026, 12, 11), RESP1: date(2026, 12, 23), WIN1: date(2027, 1, 5)},
        steps=(resp(1, ldn(2026, 12, 23, 11)),),
        nation="scotland",
    ),
    # Escalated Mon 14 Dec 16:00 (last day of the window): stage 2 ack +5 WD = Mon 21 Dec;
    # respond +20 WD from the request: 15..24 Dec = 8, 29..31 Dec = 11, 4..8 Jan = 16, 11..14 Jan = 20: Thu 14 Jan 2027
    "stage-2": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7), WIN1: date(2026, 12, 14),
         ACK2: date(2026, 12, 21), RESP2: date(2027, 1, 14)},
        steps=(ack(1, ldn(2026, 11, 24, 9)), resp(1, ldn(2026, 12, 2, 15)), esc(ldn(2026, 12, 14, 16))),
    ),
    # The stage 2 acknowledgement (Fri 18 Dec) does not move the response: it counts from the request
    "stage-2-acknowledged": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7), WIN1: date(2026, 12, 14),
         ACK2: date(2026, 12, 21), RESP2: date(2027, 1, 14)},
        steps=(ack(1, ldn(2026, 11, 24, 9)), resp(1, ldn(2026, 12, 2, 15)), esc(ldn(2026, 12, 14, 16)),
               ack(2, ldn(2026, 12, 18, 10))),
    ),
}


@pytest.mark.parametrize("row", RELIANCE.values(), ids=RELIANCE.keys())
def test_reliance(row):
    check("reliance", row)


# ---- Housing Solutions ---------------------------------------------------------

HOUSING_SOLUTIONS = {
    # Mon 23 Nov: ack +5 WD = Mon 30 Nov; respond provisional = Mon 30 Nov +10 WD = Mon 14 Dec
    "monday-provisional": Row(ldn(2026, 11, 23), {ACK1: date(2026, 11, 30), RESP1: date(2026, 12, 14)},
                              provisional=frozenset({RESP1})),
    # Acknowledged Wed 25 Nov 14:00: respond Wed 25 +10 WD = Wed 9 Dec, no longer provisional
    "monday-acknowledged": Row(ldn(2026, 11, 23), {ACK1: date(2026, 11, 30), RESP1: date(2026, 12, 9)},
                               steps=(ack(1, ldn(2026, 11, 25, 14)),)),
    # Acknowledged Wed 25 Nov 17:30, after the cut-off: counts from Thu 26: +10 WD = Thu 10 Dec
    "acknowledged-after-cutoff": Row(ldn(2026, 11, 23), {ACK1: date(2026, 11, 30), RESP1: date(2026, 12, 10)},
                                     steps=(ack(1, ldn(2026, 11, 25, 17, 30)),)),
    # Acknowledged late, Tue 1 Dec: respond Tue 1 Dec +10 WD = Tue 15 Dec
    "acknowledged-late": Row(ldn(2026, 11, 23), {ACK1: date(2026, 11, 30), RESP1: date(2026, 12, 15)},
                             steps=(ack(1, ldn(2026, 12, 1)),)),
    # 17:30 Mon 23 Nov counts from Tue 24: ack +5 WD = Tue 1 Dec; provisional Tue 1 Dec +10 WD = Tue 15 Dec
    "after-cutoff": Row(ldn(2026, 11, 23, 17, 30), {ACK1: date(2026, 12, 1), RESP1: date(2026, 12, 15)},
                        provisional=frozenset({RESP1})),
    # Wed 23 Dec 16:00: ack +5 WD = Thu 24, Tue 29, Wed 30, Thu 31, Mon 4 Jan; provisional Mon 4 +10 WD = Mon 18 Jan
    "christmas": Row(ldn(2026, 12, 23, 16), {ACK1: date(2027, 1, 4), RESP1: date(2027, 1, 18)},
                     provisional=frozenset({RESP1})),
    # Acknowledged Thu 24 Dec 11:00: respond Thu 24 +10 WD = Tue 29 .. Tue 12 Jan 2027
    "christmas-acknowledged": Row(ldn(2026, 12, 23, 16), {ACK1: date(2027, 1, 4), RESP1: date(2027, 1, 12)},
                                  steps=(ack(1, ldn(2026, 12, 24, 11)),)),
    # Scotland, Wed 23 Dec: ack +5 WD skips Fri 1 and Mon 4 Jan: Tue 5 Jan; provisional Tue 5 +10 WD = Tue 19 Jan
    "scotland-christmas": Row(ldn(2026, 12, 23, 16), {ACK1: date(2027, 1, 5), RESP1: date(2027, 1, 19)},
                              provisional=frozenset({RESP1}), nation="scotland"),
    # Answered Mon 7 Dec: window +21 days = Mon 28 Dec, Boxing Day observed: runs to Tue 29 Dec
    "window": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 30), RESP1: date(2026, 12, 9), WIN1: date(2026, 12, 29)},
        steps=(ack(1, ldn(2026, 11, 25, 14)), resp(1, ldn(2026, 12, 7, 12))),
    ),
    # Escalated Tue 29 Dec: stage 2 ack +5 WD = Wed 30, Thu 31, Mon 4, Tue 5, Wed 6 Jan;
    # respond provisional = Wed 6 Jan +20 WD = Wed 3 Feb 2027
    "stage-2-provisional": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 30), RESP1: date(2026, 12, 9), WIN1: date(2026, 12, 29),
         ACK2: date(2027, 1, 6), RESP2: date(2027, 2, 3)},
        steps=(ack(1, ldn(2026, 11, 25, 14)), resp(1, ldn(2026, 12, 7, 12)), esc(ldn(2026, 12, 29, 10))),
        provisional=frozenset({RESP2}),
    ),
    # Stage 2 acknowledged Mon 4 Jan: respond Mon 4 Jan +20 WD = Mon 1 Feb 2027
    "stage-2-acknowledged": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 30), RESP1: date(2026, 12, 9), WIN1: date(2026, 12, 29),
         ACK2: date(2027, 1, 6), RESP2: date(2027, 2, 1)},
        steps=(ack(1, ldn(2026, 11, 25, 14)), resp(1, ldn(2026, 12, 7, 12)), esc(ldn(2026, 12, 29, 10)),
               ack(2, ldn(2027, 1, 4, 10))),
    ),
}


@pytest.mark.parametrize("row", HOUSING_SOLUTIONS.values(), ids=HOUSING_SOLUTIONS.keys())
def test_housing_solutions(row):
    check("housing-solutions", row)


# ---- Connect Housing Association ------------------------------------------------

CONNECT = {
    # Mon 23 Nov: ack +2 WD = Wed 25 Nov; respond +10 WD = Mon 7 Dec
    "monday": Row(ldn(2026, 11, 23), {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7)}),
    # 17:30 counts from Tue 24 Nov: Thu 26 Nov; Tue 8 Dec
    "after-cutoff": Row(ldn(2026, 11, 23, 17, 30), {ACK1: date(2026, 11, 26), RESP1: date(2026, 12, 8)}),
    # Wed 23 Dec: Tue 29 Dec; Mon 11 Jan 2027
    "christmas": Row(ldn(2026, 12, 23, 16), {ACK1: date(2026, 12, 29), RESP1: date(2027, 1, 11)}),
    # Answered Wed 2 Dec: 3 weeks = Wed 23 Dec, a working day
    "window": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7), WIN1: date(2026, 12, 23)},
        steps=(resp(1, ldn(2026, 12, 2, 11)),),
    ),
    # Answered Fri 4 Dec: 3 weeks = Fri 25 Dec; 26, 27, 28 off: runs to Tue 29 Dec
    "window-christmas": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7), WIN1: date(2026, 12, 29)},
        steps=(resp(1, ldn(2026, 12, 4, 10)),),
    ),
    # Answered Fri 11 Dec (received Fri 27 Nov: ack Tue 1 Dec, respond Fri 11 Dec): 3 weeks = Fri 1 Jan 2027,
    # England runs to Mon 4 Jan
    "window-new-year": Row(
        ldn(2026, 11, 27),
        {ACK1: date(2026, 12, 1), RESP1: date(2026, 12, 11), WIN1: date(2027, 1, 4)},
        steps=(resp(1, ldn(2026, 12, 11, 10)),),
    ),
    # Same in Scotland (Fri 27 Nov: ack Wed 2 Dec, respond Mon 14 Dec past St Andrew's Day);
    # Fri 1 Jan, Sat 2, Sun 3, Mon 4 (observed) off: runs to Tue 5 Jan
    "window-new-year-scotland": Row(
        ldn(2026, 11, 27),
        {ACK1: date(2026, 12, 2), RESP1: date(2026, 12, 14), WIN1: date(2027, 1, 5)},
        steps=(resp(1, ldn(2026, 12, 11, 10)),),
        nation="scotland",
    ),
    # Escalated Tue 29 Dec 12:00 (last day): stage 2 ack +2 WD = Wed 30, Thu 31 Dec;
    # respond +10 WD from the request = Wed 30, Thu 31, Mon 4 .. Fri 8, Mon 11, Tue 12, Wed 13 Jan 2027
    "stage-2": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7), WIN1: date(2026, 12, 29),
         ACK2: date(2026, 12, 31), RESP2: date(2027, 1, 13)},
        steps=(ack(1, ldn(2026, 11, 24, 9)), resp(1, ldn(2026, 12, 4, 10)), esc(ldn(2026, 12, 29, 12)),
               ack(2, ldn(2026, 12, 30, 10))),
    ),
}


@pytest.mark.parametrize("row", CONNECT.values(), ids=CONNECT.keys())
def test_connect(row):
    check("connect", row)


# ---- Southway Housing Trust -----------------------------------------------------

SOUTHWAY = {
    # Mon 23 Nov: ack +2 WD = Wed 25 Nov; respond +10 WD from receipt = Mon 7 Dec
    "monday": Row(ldn(2026, 11, 23), {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7)}),
    # 17:30 counts from Tue 24 Nov: Thu 26 Nov; Tue 8 Dec
    "after-cutoff": Row(ldn(2026, 11, 23, 17, 30), {ACK1: date(2026, 11, 26), RESP1: date(2026, 12, 8)}),
    # Wed 23 Dec: Tue 29 Dec; Mon 11 Jan 2027
    "christmas": Row(ldn(2026, 12, 23, 16), {ACK1: date(2026, 12, 29), RESP1: date(2027, 1, 11)}),
    # Answered Mon 7 Dec: no escalation window at all (not limited)
    "no-window": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7)},
        steps=(resp(1, ldn(2026, 12, 7, 12)),),
    ),
    # Escalated Wed 16 Dec: stage 2 ack +2 WD = Fri 18 Dec; respond +15 WD from the request:
    # 17, 18, 21, 22, 23, 24 = 6, 29, 30, 31 = 9, Jan 4 .. 8 = 14, Mon 11 Jan 2027 = 15
    "stage-2": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7), ACK2: date(2026, 12, 18), RESP2: date(2027, 1, 11)},
        steps=(resp(1, ldn(2026, 12, 7, 12)), esc(ldn(2026, 12, 16, 11))),
    ),
    # Escalated two months on, Mon 1 Feb 2027 (never late): ack Tue 2, Wed 3 Feb; respond +15 WD = Mon 22 Feb
    "stage-2-much-later": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7), ACK2: date(2027, 2, 3), RESP2: date(2027, 2, 22)},
        steps=(resp(1, ldn(2026, 12, 7, 12)), esc(ldn(2027, 2, 1, 10)), ack(2, ldn(2027, 2, 2, 10))),
    ),
    # Escalated Wed 23 Dec (England): ack Thu 24, Tue 29 Dec; respond +15 WD: ... Jan 4 = 5 .. Mon 18 Jan = 15
    "stage-2-christmas": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 7), ACK2: date(2026, 12, 29), RESP2: date(2027, 1, 18)},
        steps=(resp(1, ldn(2026, 12, 7, 12)), esc(ldn(2026, 12, 23, 10))),
    ),
    # Same in Scotland (received Mon 23 Nov, respond 10 WD skipping Mon 30 Nov = Tue 8 Dec):
    # Mon 4 Jan off too, so respond 2 = Tue 19 Jan
    "stage-2-christmas-scotland": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 25), RESP1: date(2026, 12, 8), ACK2: date(2026, 12, 29), RESP2: date(2027, 1, 19)},
        steps=(resp(1, ldn(2026, 12, 7, 12)), esc(ldn(2026, 12, 23, 10))),
        nation="scotland",
    ),
}


@pytest.mark.parametrize("row", SOUTHWAY.values(), ids=SOUTHWAY.keys())
def test_southway(row):
    check("southway", row)


# ---- Alliance Homes ---------------------------------------------------------------

ALLIANCE = {
    # Mon 23 Nov: ack +5 WD = Mon 30 Nov; respond +10 WD from receipt = Mon 7 Dec
    "monday": Row(ldn(2026, 11, 23), {ACK1: date(2026, 11, 30), RESP1: date(2026, 12, 7)}),
    # 17:30 counts from Tue 24 Nov: ack +5 WD = Tue 1 Dec; respond +10 WD = Tue 8 Dec
    "after-cutoff": Row(ldn(2026, 11, 23, 17, 30), {ACK1: date(2026, 12, 1), RESP1: date(2026, 12, 8)}),
    # Wed 23 Dec: ack Mon 4 Jan 2027; respond Mon 11 Jan 2027
    "christmas": Row(ldn(2026, 12, 23, 16), {ACK1: date(2027, 1, 4), RESP1: date(2027, 1, 11)}),
    # Scotland, Wed 23 Dec: Mon 4 Jan is off: ack Tue 5 Jan; respond Tue 12 Jan
    "scotland-christmas": Row(ldn(2026, 12, 23, 16), {ACK1: date(2027, 1, 5), RESP1: date(2027, 1, 12)},
                              nation="scotland"),
    # Answered Mon 7 Dec: window +10 WD = Tue 8 .. Fri 11 = 4, Mon 14 .. Fri 18 = 9, Mon 21 Dec
    "window": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 30), RESP1: date(2026, 12, 7), WIN1: date(2026, 12, 21)},
        steps=(resp(1, ldn(2026, 12, 7, 10)),),
    ),
    # Answered Fri 11 Dec: window +10 WD = Mon 14 .. Thu 24 = 9, Tue 29 Dec = 10
    "window-christmas": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 30), RESP1: date(2026, 12, 7), WIN1: date(2026, 12, 29)},
        steps=(ack(1, ldn(2026, 11, 27, 10)), resp(1, ldn(2026, 12, 11, 10))),
    ),
    # Escalated Tue 29 Dec 15:00 (last day): stage 2 ack +5 WD = Wed 6 Jan 2027;
    # respond (Code) provisional = Wed 6 Jan +20 WD = Wed 3 Feb 2027
    "stage-2-provisional": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 30), RESP1: date(2026, 12, 7), WIN1: date(2026, 12, 29),
         ACK2: date(2027, 1, 6), RESP2: date(2027, 2, 3)},
        steps=(ack(1, ldn(2026, 11, 27, 10)), resp(1, ldn(2026, 12, 11, 10)), esc(ldn(2026, 12, 29, 15))),
        provisional=frozenset({RESP2}),
    ),
    # Stage 2 acknowledged Thu 31 Dec: respond Thu 31 Dec +20 WD = Mon 4 .. Fri 29 Jan 2027
    "stage-2-acknowledged": Row(
        ldn(2026, 11, 23),
        {ACK1: date(2026, 11, 30), RESP1: date(2026, 12, 7), WIN1: date(2026, 12, 29),
         ACK2: date(2027, 1, 6), RESP2: date(2027, 1, 29)},
        steps=(ack(1, ldn(2026, 11, 27, 10)), resp(1, ldn(2026, 12, 11, 10)), esc(ldn(2026, 12, 29, 15)),
               ack(2, ldn(2026, 12, 31, 10))),
    ),
}


@pytest.mark.parametrize("row", ALLIANCE.values(), ids=ALLIANCE.keys())
def test_alliance_homes(row):
    check("alliance-homes", row)


def test_alliance_escalation_the_day_after_the_window_is_late():
    policy = load_policy("alliance-homes")
    cal = WorkingCalendar()
    case, _ = open_case("CMP-000001", "complaint", ldn(2026, 11, 23))
    response_sent(case, 1, ldn(2026, 12, 11, 10))  # window ends Tue 29 Dec
    verdict, _ = escalation_requested(case, ldn(2026, 12, 30, 9), policy, cal)  # Wed 30 Dec
    assert verdict == "late"
    assert case.stage == 1 and case.state == "escalation_review"


def test_reliance_window_rolled_to_monday_is_open_all_monday_and_shut_on_tuesday():
    policy = load_policy("reliance")
    cal = WorkingCalendar()
    inside, _ = open_case("CMP-000001", "complaint", ldn(2026, 11, 23))
    response_sent(inside, 1, ldn(2026, 12, 2, 15))  # window Sat 12 Dec -> Mon 14 Dec
    assert escalation_requested(inside, ldn(2026, 12, 14, 23, 59), policy, cal)[0] == "accepted"
    late, _ = open_case("CMP-000002", "complaint", ldn(2026, 11, 23))
    response_sent(late, 1, ldn(2026, 12, 2, 15))
    assert escalation_requested(late, ldn(2026, 12, 15, 0, 0), policy, cal)[0] == "late"


def test_connect_escalation_on_the_rolled_window_day_is_accepted():
    policy = load_policy("connect")
    cal = WorkingCalendar()
    case, _ = open_case("CMP-000001", "complaint", ldn(2026, 11, 23))
    response_sent(case, 1, ldn(2026, 12, 4, 10))  # 3 weeks = Fri 25 Dec -> Tue 29 Dec
    assert escalation_requested(case, ldn(2026, 12, 29, 20), policy, cal)[0] == "accepted"

"""How a complaint moves (CONTRACT.md, the lifecycle table), on the pure domain.

Every moment is passed in explicitly. Dates worked out by hand from a real
calendar (England): Monday 23 November 2026 is the anchor; November and
December are GMT (London = UTC); June 2027 is BST (London = UTC+1).
Christmas 2026: Fri 25 Dec, Sat 26 Dec (Boxing Day), Mon 28 Dec (Boxing Day
observed) and Fri 1 Jan 2027 are bank holidays.

Reliance: acknowledge 2 WD, respond 10 WD from receipt, extension up to 10 WD,
escalation window 10 calendar days from the response, stage 2 acknowledge
5 WD (Code) and respond 20 WD from the request, stage 2 extension 10 WD.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from mailcomplaints.domain.calendar import LONDON, WorkingCalendar
from mailcomplaints.domain.deadlines import Deadline
from mailcomplaints.domain.lifecycle import (
    LifecycleError,
    acknowledgement_sent,
    close_by_officer,
    deadline,
    decide_escalation,
    escalation_declined_sent,
    escalation_requested,
    escalation_window_ended,
    extend,
    open_case,
    overdue_flags,
    response_sent,
    schedule,
    withdraw,
)
from mailcomplaints.policies import load_policy

RELIANCE = load_policy("reliance")
SOUTHWAY = load_policy("southway")
HOUSING_SOLUTIONS = load_policy("housing-solutions")
CAL = WorkingCalendar(nation="england")

RECEIVED = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)  # Monday, 10:00 London (GMT)


def at(y, m, d, hh=10, mm=0, ss=0) -> datetime:
    """A moment given in UTC (equal to London time from November to March)."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=timezone.utc)


def london(y, m, d, hh=10, mm=0, ss=0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=LONDON)


def kinds(case, policy=RELIANCE, cal=CAL):
    return {(d.kind, d.stage): d for d in schedule(case, policy, cal)}


def new_case(policy=RELIANCE, received=RECEIVED):
    case, _ = open_case("CMP-000001", "complaint", received)
    return case


def responded_case(policy=RELIANCE, sent=at(2026, 12, 2, 15)):
    """Received Mon 23 Nov, acknowledged Tue 24 Nov, answered (by default) Wed 2 Dec."""
    case = new_case(policy)
    acknowledgement_sent(case, 1, at(2026, 11, 24, 9))
    response_sent(case, 1, sent, actor="Officer A", outcome="upheld")
    return case


# ---- new complaint -----------------------------------------------------------


def test_new_complaint_is_stage_1_awaiting_acknowledgement_with_two_deadlines():
    case, events = open_case("CMP-000001", "complaint", RECEIVED, actor="pipeline")
    assert (case.stage, case.state, case.outcome) == (1, "awaiting_acknowledgement", None)
    assert [(e.kind, e.actor, e.stage) for e in events] == [("received", "pipeline", 1)]
    items = schedule(case, RELIANCE, CAL)
    assert [(d.kind, d.stage) for d in items] == [("acknowledge", 1), ("respond", 1)]
    by = kinds(case)
    assert by["acknowledge", 1].due == date(2026, 11, 25)  # Mon 23 + 2 WD = Wed 25 Nov
    assert by["respond", 1].due == date(2026, 12, 7)  # Mon 23 + 10 WD = Mon 7 Dec
    assert not by["respond", 1].provisional
    now = at(2026, 11, 23, 12)
    assert {d.kind: d.status(now) for d in items} == {"acknowledge": "pending", "respond": "pending"}


def test_unknown_kind_is_refused():
    with pytest.raises(LifecycleError):
        open_case("CMP-000001", "grumble", RECEIVED)


@pytest.mark.parametrize("kind", ["compliment", "service_request", "enquiry", "not_a_complaint"])
def test_non_complaints_carry_no_deadlines(kind):
    case, _ = open_case("CMP-000002", kind, RECEIVED)
    assert schedule(case, RELIANCE, CAL) == []


# ---- acknowledgement ---------------------------------------------------------


def test_acknowledgement_sent_moves_to_investigating_and_meets_the_deadline():
    case = new_case()
    events = acknowledgement_sent(case, 1, at(2026, 11, 24, 9), actor="Officer A")
    assert (case.stage, case.state) == (1, "investigating")
    assert [(e.kind, e.actor, e.stage) for e in events] == [("acknowledged", "Officer A", 1)]
    ack = deadline(case, RELIANCE, CAL, "acknowledge", 1)
    assert ack.met_at == at(2026, 11, 24, 9)
    assert ack.status(at(2026, 12, 1)) == "met"


def test_acknowledgement_sent_on_the_last_minute_is_met_and_a_minute_later_met_late():
    on_time = new_case()
    acknowledgement_sent(on_time, 1, at(2026, 11, 25, 23, 59))  # Wed 25 Nov 23:59 GMT, the due day
    assert deadline(on_time, RELIANCE, CAL, "acknowledge", 1).status(at(2026, 12, 1)) == "met"
    late = new_case()
    acknowledgement_sent(late, 1, at(2026, 11, 26, 0, 0))  # Thu 26 Nov 00:00: the day after
    assert deadline(late, RELIANCE, CAL, "acknowledge", 1).status(at(2026, 12, 1)) == "met_late"


def test_second_acknowledgement_changes_nothing():
    case = new_case()
    acknowledgement_sent(case, 1, at(2026, 11, 24, 9))
    assert acknowledgement_sent(case, 1, at(2026, 11, 25, 9)) == []
    assert case.stages[1].acknowledged_at == at(2026, 11, 24, 9)


# ---- extend --------------------------------------------------------------------


def test_extend_moves_respond_on_from_its_current_due_date():
    case = new_case()
    acknowledgement_sent(case, 1, at(2026, 11, 24, 9))
    events = extend(case, 5, "awaiting a surveyor's report", at(2026, 12, 1), RELIANCE, actor="Officer A")
    assert [(e.kind, e.actor, e.reason, e.detail["working_days"]) for e in events] == [
        ("extended", "Officer A", "awaiting a surveyor's report", 5)
    ]
    assert (case.stage, case.state) == (1, "investigating")
    assert deadline(case, RELIANCE, CAL, "respond", 1).due == date(2026, 12, 14)  # Mon 7 Dec + 5 WD = Mon 14 Dec
    extend(case, 5, "contractor unavailable", at(2026, 12, 10), RELIANCE)
    assert deadline(case, RELIANCE, CAL, "respond", 1).due == date(2026, 12, 21)  # Mon 14 Dec + 5 WD = Mon 21 Dec


def test_extend_beyond_the_policy_limit_is_refused_unless_agreed():
    case = new_case()
    extend(case, 10, "complex", at(2026, 12, 1), RELIANCE)  # Mon 7 Dec + 10 WD = Mon 21 Dec: at the limit
    assert deadline(case, RELIANCE, CAL, "respond", 1).due == date(2026, 12, 21)
    with pytest.raises(LifecycleError):
        extend(case, 1, "more time", at(2026, 12, 15), RELIANCE)  # would total 11 > 10
    assert deadline(case, RELIANCE, CAL, "respond", 1).due == date(2026, 12, 21)
    events = extend(case, 1, "agreed with the resident", at(2026, 12, 15), RELIANCE, beyond_limit=True)
    assert events[0].detail["beyond_limit"] is True
    assert deadline(case, RELIANCE, CAL, "respond", 1).due == date(2026, 12, 22)  # Mon 21 Dec + 1 WD = Tue 22 Dec


def test_a_single_extension_over_the_limit_is_refused():
    case = new_case()
    with pytest.raises(LifecycleError):
        extend(case, 11, "complex", at(2026, 12, 1), RELIANCE)
    assert case.stages[1].extensions == []


@pytest.mark.parametrize("reason", ["", "   "])
def test_extend_without_a_reason_is_refused(reason):
    case = new_case()
    with pytest.raises(LifecycleError):
        extend(case, 5, reason, at(2026, 12, 1), RELIANCE)
    assert deadline(case, RELIANCE, CAL, "respond", 1).due == date(2026, 12, 7)


def test_extend_by_zero_days_is_refused():
    with pytest.raises(LifecycleError):
        extend(new_case(), 0, "nothing", at(2026, 12, 1), RELIANCE)


def test_extend_after_the_response_is_sent_is_refused():
    case = responded_case()
    with pytest.raises(LifecycleError):
        extend(case, 5, "too late", at(2026, 12, 3), RELIANCE)
    assert deadline(case, RELIANCE, CAL, "respond", 1).due == date(2026, 12, 7)


def test_extend_at_stage_2_uses_the_stage_2_limit():
    case = responded_case()
    escalation_requested(case, at(2026, 12, 14, 16), RELIANCE, CAL)  # inside the window (ends Mon 14 Dec)
    extend(case, 10, "complex review", at(2026, 12, 20), RELIANCE)  # Reliance stage 2 limit: 10 WD
    # stage 2 respond: Mon 14 Dec + 20 WD = Thu 14 Jan 2027; + 10 WD = Thu 28 Jan 2027
    assert deadline(case, RELIANCE, CAL, "respond", 2).due == date(2027, 1, 28)
    assert deadline(case, RELIANCE, CAL, "respond", 1).due == date(2026, 12, 7)
    with pytest.raises(LifecycleError):
        extend(case, 1, "more", at(2026, 12, 21), RELIANCE)


# ---- stage 1 response and the escalation window --------------------------------


def test_response_sent_meets_respond_and_opens_the_window():
    case = new_case()
    acknowledgement_sent(case, 1, at(2026, 11, 24, 9))
    events = response_sent(case, 1, at(2026, 12, 2, 15), actor="Officer A", outcome="upheld")
    assert [(e.kind, e.actor, e.stage) for e in events] == [("responded", "Officer A", 1)]
    assert (case.stage, case.state) == (1, "responded")
    by = kinds(case)
    assert by["respond", 1].met_at == at(2026, 12, 2, 15)
    assert by["respond", 1].status(at(2026, 12, 3)) == "met"
    window = by["escalation_window", 1]
    assert window.due == date(2026, 12, 14)  # Wed 2 Dec + 10 days = Sat 12 Dec, a weekend: runs to Mon 14 Dec
    assert window.status(at(2026, 12, 3)) == "pending"


def test_response_without_acknowledgement_acknowledges_too():
    case = new_case()
    response_sent(case, 1, at(2026, 11, 24, 15))
    assert case.state == "responded"
    assert deadline(case, RELIANCE, CAL, "acknowledge", 1).status(at(2026, 11, 30)) == "met"


def test_late_response_is_met_late():
    case = new_case()
    response_sent(case, 1, at(2026, 12, 8, 0, 0))  # Tue 8 Dec 00:00, the day after Mon 7 Dec
    assert deadline(case, RELIANCE, CAL, "respond", 1).status(at(2026, 12, 9)) == "met_late"


def test_southway_has_no_escalation_window():
    case = responded_case(SOUTHWAY)
    assert case.state == "responded"
    assert ("escalation_window", 1) not in kinds(case, SOUTHWAY)
    assert escalation_window_ended(case, at(2027, 6, 1), SOUTHWAY, CAL) == []
    assert case.state == "responded"


# ---- escalation -------------------------------------------------------------------


def test_escalation_inside_the_window_enters_stage_2_counted_from_the_request():
    case = responded_case()
    verdict, events = escalation_requested(case, at(2026, 12, 14, 16), RELIANCE, CAL, actor="pipeline")
    assert verdict == "accepted"
    assert [(e.kind, e.actor, e.stage) for e in events] == [("escalated", "pipeline", 2)]
    assert (case.stage, case.state) == (2, "awaiting_acknowledgement")
    assert not {"late_escalation", "premature_escalation", "response_overdue"} & case.flags
    by = kinds(case)
    assert by["acknowledge", 2].due == date(2026, 12, 21)  # Mon 14 Dec + 5 WD (Code) = Mon 21 Dec
    assert by["respond", 2].due == date(2027, 1, 14)  # Mon 14 Dec + 20 WD over Christmas = Thu 14 Jan 2027
    window = by["escalation_window", 1]
    assert window.met_at == at(2026, 12, 14, 16)
    assert window.status(at(2026, 12, 14, 17)) == "met"


def test_escalation_after_the_window_goes_to_review_flagged_late():
    case = responded_case()
    verdict, events = escalation_requested(case, at(2026, 12, 15, 0, 0), RELIANCE, CAL)  # Tue 15 Dec 00:00
    assert verdict == "late"
    assert (case.stage, case.state) == (1, "escalation_review")
    assert "late_escalation" in case.flags
    assert events and events[0].reason
    assert not any(d.stage == 2 for d in schedule(case, RELIANCE, CAL))


def test_escalation_before_the_response_and_not_overdue_is_premature():
    case = new_case()
    acknowledgement_sent(case, 1, at(2026, 11, 24, 9))
    verdict, events = escalation_requested(case, at(2026, 12, 4), RELIANCE, CAL)  # Fri 4 Dec; respond due Mon 7 Dec
    assert verdict == "premature"
    assert (case.stage, case.state) == (1, "investigating")
    assert "premature_escalation" in case.flags
    assert events and events[0].reason
    assert not any(d.stage == 2 for d in schedule(case, RELIANCE, CAL))


def test_escalation_late_on_the_response_due_day_is_still_premature():
    case = new_case()
    verdict, _ = escalation_requested(case, at(2026, 12, 7, 23, 59), RELIANCE, CAL)  # Mon 7 Dec 23:59, the due day
    assert verdict == "premature"
    assert (case.stage, case.state) == (1, "awaiting_acknowledgement")


def test_escalation_while_the_response_is_overdue_enters_stage_2():
    case = new_case()
    acknowledgement_sent(case, 1, at(2026, 11, 24, 9))
    verdict, _ = escalation_requested(case, at(2026, 12, 8, 0, 30), RELIANCE, CAL)  # Tue 8 Dec: overdue
    assert verdict == "accepted"
    assert (case.stage, case.state) == (2, "awaiting_acknowledgement")
    assert "response_overdue" in case.flags
    assert "premature_escalation" not in case.flags
    by = kinds(case)
    assert by["acknowledge", 2].due == date(2026, 12, 15)  # Tue 8 Dec + 5 WD = Tue 15 Dec
    assert by["respond", 2].due == date(2027, 1, 8)  # Tue 8 Dec + 20 WD over Christmas = Fri 8 Jan 2027


def test_escalation_at_the_final_stage_is_not_applicable():
    case = responded_case()
    escalation_requested(case, at(2026, 12, 10), RELIANCE, CAL)
    acknowledgement_sent(case, 2, at(2026, 12, 11))
    response_sent(case, 2, at(2027, 1, 6))
    assert escalation_requested(case, at(2027, 1, 7), RELIANCE, CAL) == ("not_applicable", [])
    assert (case.stage, case.state) == (2, "responded")


# ---- decide --------------------------------------------------------------------


def test_accepting_a_late_escalation_counts_from_the_request_not_the_decision():
    case = responded_case()
    escalation_requested(case, at(2026, 12, 15, 9), RELIANCE, CAL)  # Tue 15 Dec: late
    events = decide_escalation(case, True, at(2026, 12, 18, 10), actor="Manager B", reason="good reason for delay")
    assert events[0].kind == "decided" and events[0].actor == "Manager B"
    assert events[0].reason == "good reason for delay"
    assert (case.stage, case.state) == (2, "awaiting_acknowledgement")
    by = kinds(case)
    assert by["acknowledge", 2].due == date(2026, 12, 22)  # Tue 15 Dec + 5 WD = Tue 22 Dec (from Fri 18 it would be Tue 29)
    assert by["respond", 2].due == date(2027, 1, 15)  # Tue 15 Dec + 20 WD over Christmas = Fri 15 Jan 2027


def test_declining_a_late_escalation_closes_once_the_letter_is_sent():
    case = responded_case()
    escalation_requested(case, at(2026, 12, 15, 9), RELIANCE, CAL)
    events = decide_escalation(case, False, at(2026, 12, 16), actor="Manager B", reason="no reason for delay")
    assert events[0].kind == "decided" and events[0].actor == "Manager B"
    assert (case.stage, case.state) == (1, "escalation_review")
    closing = escalation_declined_sent(case, at(2026, 12, 17, 11), actor="Officer A")
    assert (case.stage, case.state) == (1, "closed")
    assert [e.kind for e in closing] == ["closed"]
    assert case.outcome == "upheld"  # the stage 1 outcome stands
    assert not any(d.stage == 2 for d in schedule(case, RELIANCE, CAL))


def test_accepting_a_premature_escalation_enters_stage_2_from_the_request():
    case = new_case()
    escalation_requested(case, at(2026, 12, 4), RELIANCE, CAL)  # Fri 4 Dec: premature
    decide_escalation(case, True, at(2026, 12, 9), actor="Manager B")
    assert (case.stage, case.state) == (2, "awaiting_acknowledgement")
    assert deadline(case, RELIANCE, CAL, "acknowledge", 2).due == date(2026, 12, 11)  # Fri 4 Dec + 5 WD = Fri 11 Dec


def test_declining_a_premature_escalation_leaves_stage_1_running():
    # A documented choice: the decline letter is sent and stage 1 continues.
    case = new_case()
    acknowledgement_sent(case, 1, at(2026, 11, 24, 9))
    escalation_requested(case, at(2026, 12, 4), RELIANCE, CAL)
    decide_escalation(case, False, at(2026, 12, 4, 14), actor="Manager B")
    assert (case.stage, case.state) == (1, "investigating")
    assert escalation_declined_sent(case, at(2026, 12, 4, 15)) == []
    assert (case.stage, case.state) == (1, "investigating")
    assert deadline(case, RELIANCE, CAL, "respond", 1).due == date(2026, 12, 7)
    response_sent(case, 1, at(2026, 12, 7, 12))
    assert case.state == "responded"


def test_decide_without_a_pending_escalation_is_refused():
    with pytest.raises(LifecycleError):
        decide_escalation(new_case(), True, at(2026, 12, 1), actor="Manager B")


# ---- stage 2 ------------------------------------------------------------------


def test_stage_2_acknowledgement_and_response():
    case = responded_case()
    escalation_requested(case, at(2026, 12, 14, 16), RELIANCE, CAL)
    acknowledgement_sent(case, 2, at(2026, 12, 16, 10), actor="Manager B")
    assert (case.stage, case.state) == (2, "investigating")
    assert deadline(case, RELIANCE, CAL, "acknowledge", 2).status(at(2026, 12, 17)) == "met"
    response_sent(case, 2, at(2027, 1, 14, 23, 59), actor="Manager B", outcome="not_upheld")  # the due day
    assert (case.stage, case.state) == (2, "responded")
    assert deadline(case, RELIANCE, CAL, "respond", 2).status(at(2027, 1, 15)) == "met"
    assert deadline(case, RELIANCE, CAL, "escalation_window", 2) is None  # the final stage has no window
    assert escalation_window_ended(case, at(2027, 6, 1), RELIANCE, CAL) == []
    events = close_by_officer(case, "Not upheld", at(2027, 1, 15), "Manager B", RELIANCE)
    assert [(e.kind, e.actor) for e in events] == [("closed", "Manager B")]
    assert (case.state, case.outcome) == ("closed", "not_upheld")
    by = kinds(case)
    assert by["respond", 2].status(at(2027, 2, 1)) == "met"


# ---- escalation window ends -----------------------------------------------------


def test_window_end_closes_only_after_the_last_day_has_ended():
    case = responded_case()  # window due Mon 14 Dec
    assert escalation_window_ended(case, at(2026, 12, 14, 23, 59, 59), RELIANCE, CAL) == []
    assert case.state == "responded"
    events = escalation_window_ended(case, at(2026, 12, 15, 0, 0), RELIANCE, CAL)
    assert [e.kind for e in events] == ["closed"]
    assert case.state == "closed"
    assert case.outcome == "upheld"
    assert case.closed_at == london(2026, 12, 15, 0, 0)  # the end of Mon 14 Dec
    window = deadline(case, RELIANCE, CAL, "escalation_window", 1)
    assert window.status(at(2026, 12, 15, 0, 0)) == "met"
    assert escalation_window_ended(case, at(2026, 12, 16), RELIANCE, CAL) == []


def test_window_end_does_nothing_unless_responded():
    case = new_case()
    acknowledgement_sent(case, 1, at(2026, 11, 24, 9))
    assert escalation_window_ended(case, at(2027, 3, 1), RELIANCE, CAL) == []
    assert case.state == "investigating"
    late = responded_case()
    escalation_requested(late, at(2026, 12, 16), RELIANCE, CAL)  # late: escalation_review
    assert escalation_window_ended(late, at(2026, 12, 17), RELIANCE, CAL) == []
    assert late.state == "escalation_review"


def test_late_escalation_after_the_case_closed_reopens_for_review():
    case = responded_case()
    escalation_window_ended(case, at(2026, 12, 15, 6), RELIANCE, CAL)
    assert case.state == "closed"
    verdict, _ = escalation_requested(case, at(2026, 12, 16, 10), RELIANCE, CAL)
    assert verdict == "late"
    assert (case.stage, case.state) == (1, "escalation_review")


# ---- withdrawal ----------------------------------------------------------------


def test_withdrawal_closes_and_drops_pending_deadlines():
    case = new_case()
    acknowledgement_sent(case, 1, at(2026, 11, 24, 9))
    events = withdraw(case, at(2026, 11, 26, 11), actor="Officer A")
    assert [e.kind for e in events] == ["withdrawn", "closed"]
    assert all(e.actor == "Officer A" for e in events)
    assert (case.state, case.outcome) == ("closed", "withdrawn")
    items = schedule(case, RELIANCE, CAL)
    assert [(d.kind, d.stage) for d in items] == [("acknowledge", 1)]  # met: kept
    assert items[0].status(at(2026, 12, 10)) == "met"


def test_withdrawal_before_acknowledgement_leaves_no_deadlines():
    case = new_case()
    withdraw(case, at(2026, 11, 24, 11))
    assert schedule(case, RELIANCE, CAL) == []


def test_withdrawal_while_the_window_is_open_drops_the_window():
    case = responded_case()  # window open until Mon 14 Dec
    withdraw(case, at(2026, 12, 4, 11))
    assert (case.state, case.outcome) == ("closed", "withdrawn")
    now = at(2026, 12, 4, 12)
    assert [d.status(now) for d in schedule(case, RELIANCE, CAL) if d.status(now) == "pending"] == []


def test_withdrawn_case_cannot_be_withdrawn_or_extended_or_escalated():
    case = new_case()
    withdraw(case, at(2026, 11, 24, 11))
    with pytest.raises(LifecycleError):
        withdraw(case, at(2026, 11, 25))
    with pytest.raises(LifecycleError):
        extend(case, 5, "why", at(2026, 11, 25), RELIANCE)
    assert escalation_requested(case, at(2026, 11, 25), RELIANCE, CAL) == ("not_applicable", [])


# ---- close by an officer --------------------------------------------------------


@pytest.mark.parametrize("outcome", ["partly_upheld", "Partly upheld", "Part upheld"])
def test_housing_solutions_has_no_partly_upheld(outcome):
    case = responded_case(HOUSING_SOLUTIONS)
    with pytest.raises(LifecycleError):
        close_by_officer(case, outcome, at(2026, 12, 30), "Officer A", HOUSING_SOLUTIONS)
    assert case.state == "responded"


def test_housing_solutions_upheld_closes():
    case = responded_case(HOUSING_SOLUTIONS)
    close_by_officer(case, "Upheld", at(2026, 12, 30), "Officer A", HOUSING_SOLUTIONS)
    assert (case.state, case.outcome) == ("closed", "upheld")


@pytest.mark.parametrize("typed", ["Part upheld", "Part Upheld", "partly_upheld", "partly upheld"])
def test_southway_part_upheld_is_normalised(typed):
    case = responded_case(SOUTHWAY)
    events = close_by_officer(case, typed, at(2026, 12, 30), "Officer A", SOUTHWAY)
    assert (case.state, case.outcome) == ("closed", "partly_upheld")
    assert events[0].actor == "Officer A" and events[0].reason


def test_closing_a_closed_case_is_refused():
    case = responded_case(SOUTHWAY)
    close_by_officer(case, "Upheld", at(2026, 12, 30), "Officer A", SOUTHWAY)
    with pytest.raises(LifecycleError):
        close_by_officer(case, "Upheld", at(2026, 12, 31), "Officer A", SOUTHWAY)


# ---- overdue flags ---------------------------------------------------------------


def test_response_overdue_is_flagged_from_the_day_after():
    case = new_case()
    acknowledgement_sent(case, 1, at(2026, 11, 24, 9))
    assert overdue_flags(case, at(2026, 12, 7, 23, 59), RELIANCE, CAL) == []  # Mon 7 Dec, the due day
    assert "response_overdue" not in case.flags
    events = overdue_flags(case, at(2026, 12, 8, 0, 0), RELIANCE, CAL)
    assert [e.kind for e in events] == ["flagged"]
    assert events[0].reason
    assert "response_overdue" in case.flags
    assert overdue_flags(case, at(2026, 12, 9), RELIANCE, CAL) == []  # once only


# ---- deadline statuses at the boundaries -----------------------------------------

GMT_DUE = date(2026, 11, 25)  # Wednesday; London = UTC
BST_DUE = date(2027, 6, 4)  # Friday; London = UTC+1


@pytest.mark.parametrize(
    "now, expected",
    [
        (at(2026, 11, 24, 23, 59), "pending"),  # Tue 24 Nov 23:59 London
        (at(2026, 11, 25, 0, 0), "due_today"),  # Wed 25 Nov 00:00 London
        (at(2026, 11, 25, 23, 59), "due_today"),  # Wed 25 Nov 23:59 London
        (at(2026, 11, 26, 0, 0), "overdue"),  # Thu 26 Nov 00:00 London
    ],
)
def test_status_boundaries_in_gmt(now, expected):
    assert Deadline("respond", 1, GMT_DUE).status(now) == expected


@pytest.mark.parametrize(
    "now, expected",
    [
        (at(2027, 6, 3, 22, 59), "pending"),  # 23:59 BST on Thu 3 June
        (at(2027, 6, 3, 23, 0), "due_today"),  # 00:00 BST on Fri 4 June, though still 3 June in UTC
        (at(2027, 6, 4, 22, 59), "due_today"),  # 23:59 BST on Fri 4 June
        (at(2027, 6, 4, 23, 0), "overdue"),  # 00:00 BST on Sat 5 June, though still 4 June in UTC
        (london(2027, 6, 4, 23, 59), "due_today"),
        (london(2027, 6, 5, 0, 0), "overdue"),
    ],
)
def test_status_boundaries_in_bst(now, expected):
    assert Deadline("respond", 1, BST_DUE).status(now) == expected


@pytest.mark.parametrize(
    "met_at, expected",
    [
        (at(2026, 11, 25, 23, 59, 59), "met"),  # before midnight ending Wed 25 Nov
        (at(2026, 11, 26, 0, 0), "met_late"),
        (at(2026, 11, 20, 9), "met"),
    ],
)
def test_met_and_met_late_in_gmt(met_at, expected):
    assert Deadline("acknowledge", 1, GMT_DUE, met_at).status(at(2026, 12, 1)) == expected


@pytest.mark.parametrize(
    "met_at, expected",
    [
        (at(2027, 6, 4, 22, 59), "met"),  # 23:59 BST on the due day
        (at(2027, 6, 4, 23, 0), "met_late"),  # 00:00 BST the next day, though 4 June in UTC
        (london(2027, 6, 4, 23, 59, 59), "met"),
    ],
)
def test_met_and_met_late_in_bst(met_at, expected):
    assert Deadline("acknowledge", 1, BST_DUE, met_at).status(at(2027, 6, 10)) == expected


def test_met_status_does_not_depend_on_now():
    late = Deadline("respond", 1, GMT_DUE, at(2026, 11, 27, 9))
    assert late.status(at(2026, 11, 27, 10)) == "met_late"
    assert late.status(at(2026, 11, 20)) == "met_late"


@pytest.mark.parametrize(
    "now, met_at, expected",
    [
        (at(2026, 11, 25, 23, 59), None, "pending"),  # open on its last day
        (at(2026, 11, 26, 0, 0), None, "met"),  # ended unused
        (at(2026, 11, 20), at(2026, 11, 20), "met"),  # the resident escalated
    ],
)
def test_escalation_window_status(now, met_at, expected):
    assert Deadline("escalation_window", 1, GMT_DUE, met_at).status(now) == expected


def test_case_statuses_through_the_schedule():
    case = new_case()  # acknowledge due Wed 25 Nov, respond Mon 7 Dec
    statuses = lambda now: {d.kind: d.status(now) for d in schedule(case, RELIANCE, CAL)}  # noqa: E731
    assert statuses(at(2026, 11, 25, 23, 59)) == {"acknowledge": "due_today", "respond": "pending"}
    assert statuses(at(2026, 11, 26, 0, 0)) == {"acknowledge": "overdue", "respond": "pending"}
    acknowledgement_sent(case, 1, at(2026, 11, 26, 9))
    assert statuses(at(2026, 12, 7, 12)) == {"acknowledge": "met_late", "respond": "due_today"}
    assert statuses(at(2026, 12, 8, 0, 0)) == {"acknowledge": "met_late", "respond": "overdue"}


def test_after_a_declined_premature_escalation_a_later_one_in_the_window_enters_stage_2():
    case = new_case()
    acknowledgement_sent(case, 1, at(2026, 11, 24, 9))
    escalation_requested(case, at(2026, 12, 1), RELIANCE, CAL)  # premature
    decide_escalation(case, False, at(2026, 12, 1, 14), actor="Manager B")
    escalation_declined_sent(case, at(2026, 12, 1, 15))
    response_sent(case, 1, at(2026, 12, 2, 15))  # window to Mon 14 Dec
    verdict, _ = escalation_requested(case, at(2026, 12, 10), RELIANCE, CAL)
    assert verdict == "accepted"
    assert (case.stage, case.state) == (2, "awaiting_acknowledgement")
    assert deadline(case, RELIANCE, CAL, "acknowledge", 2).due == date(2026, 12, 17)  # Thu 10 Dec + 5 WD = Thu 17 Dec


# ---- the resident's window counts from the day we sent the response ------------


def test_window_counts_from_the_send_day_even_after_the_cut_off():
    # Reliance: 10 days "of receipt of the outcome"; an emailed response is received the day it is sent.
    # Sent Friday 4 Dec 2026 at 18:00 (after our 17:00 cut-off): 4 Dec + 10 days = Monday 14 Dec.
    case = responded_case(sent=london(2026, 12, 4, 18))
    window = [d for d in schedule(case, RELIANCE, CAL) if d.kind == "escalation_window"][0]
    assert window.due == date(2026, 12, 14)


def test_an_officer_closing_early_does_not_stretch_the_window():
    # Response Wed 2 Dec (window to Mon 14 Dec); the officer closes on 3 Dec; a request on 15 Dec is late.
    case = responded_case()
    close_by_officer(case, "upheld", at(2026, 12, 3), "Officer A", RELIANCE)
    verdict, _ = escalation_requested(case, at(2026, 12, 15), RELIANCE, CAL)
    assert (verdict, case.state) == ("late", "escalation_review")
    # ...and a request inside the window still reaches stage 2
    other = responded_case()
    close_by_officer(other, "upheld", at(2026, 12, 3), "Officer A", RELIANCE)
    assert escalation_requested(other, at(2026, 12, 14, 16), RELIANCE, CAL)[0] == "accepted"
    assert other.stage == 2

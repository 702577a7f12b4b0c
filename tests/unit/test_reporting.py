"""The performance report on a year of cases whose answers were worked out by
hand (England's bank holidays; reporting year April 2025 to March 2026; 2,000
homes). Each case's dates and the Code's timescale are in its comment."""

from datetime import date, datetime, timezone

from mailcomplaints.domain.calendar import WorkingCalendar
from mailcomplaints.domain.lifecycle import CaseFile, Event, StageFacts
from mailcomplaints.domain.reporting import Period, build_report, code_due, reporting_year

CAL = WorkingCalendar(nation="england")
YEAR = Period(date(2025, 4, 1), date(2026, 3, 31))
OUTCOMES = {"upheld": "Upheld", "partly_upheld": "Partly upheld", "not_upheld": "Not upheld"}


def at(y, m, d, hour=10):
    return datetime(y, m, d, hour, 0, tzinfo=timezone.utc)


def complaint(ref, received, ack=None, responded=None, outcome=None, extensions=(), closed=None, flags=()):
    case = CaseFile(reference=ref, kind="complaint", opened_at=received, flags=set(flags), closed_at=closed)
    case.stages[1] = StageFacts(1, received, ack, responded, list(extensions), outcome)
    return case


def year_of_cases():
    a = complaint("A", at(2025, 6, 2), at(2025, 6, 3), at(2025, 6, 13), "upheld", closed=at(2025, 7, 1), flags={"health_and_safety"})
    # A: due 3 Jun + 10 = 17 Jun; on time. Acknowledged in 1 working day, answered in 9.
    b = complaint("B", at(2025, 7, 7), None, at(2025, 7, 28), "not_upheld", closed=at(2025, 8, 20))
    # B: never acknowledged: receipt + 5 = 14 Jul, + 10 = 28 Jul; on time, on the last day. Answered in 15.
    c = complaint("C", at(2025, 9, 1), at(2025, 9, 8), at(2025, 9, 23), "partly_upheld", closed=at(2025, 12, 3))
    # C: acknowledged on receipt + 5 (8 Sep), + 10 = 22 Sep; answered 23 Sep, late. 5 and 16 working days.
    d = complaint("D", at(2025, 11, 3), at(2025, 11, 4), at(2025, 12, 2), "upheld", extensions=[10], closed=at(2026, 1, 5))
    # D: 4 Nov + 10 = 18 Nov, + a 10-day extension = 2 Dec; on time. 1 and 21 working days.
    e = complaint("E", at(2026, 1, 5), at(2026, 1, 6), at(2026, 2, 11), "not_upheld", extensions=[15],
                  closed=at(2026, 3, 20), flags={"vulnerability", "ombudsman_mentioned"})
    # E: 6 Jan + 10 = 20 Jan, + the extension capped at the Code's 10 = 3 Feb; answered 11 Feb, late. 1 and 27.
    e.stages[2] = StageFacts(2, at(2026, 2, 16), at(2026, 2, 18), at(2026, 3, 13), [], "upheld")
    # E at stage 2: 18 Feb + 20 = 18 Mar; answered 13 Mar, on time. 2 and 19 working days.
    f = complaint("F", at(2026, 3, 9), at(2026, 3, 10))  # open at 31 March: 16 working days old
    g = complaint("G", at(2025, 2, 10), at(2025, 2, 11), at(2025, 4, 3), "upheld", closed=at(2025, 5, 1))
    # G: received before the year, answered in it: 11 Feb + 10 = 25 Feb; late. Answered in 38 working days.
    h = complaint("H", at(2026, 3, 20), at(2026, 3, 23), at(2026, 4, 2), "upheld")  # answered after the year; open at its end, 7 days old
    thanks = CaseFile(reference="K", kind="compliment", opened_at=at(2025, 5, 5))
    tap = CaseFile(reference="L", kind="service_request", opened_at=at(2025, 5, 6))
    events = {
        "C": [Event("escalation_review", at(2025, 12, 1), stage=1, detail={"result": "late"}),
              Event("decided", at(2025, 12, 3), "Manager", stage=1, detail={"escalation": "declined"})],
        "D": [Event("flagged", at(2025, 11, 10), stage=1, detail={"flag": "premature_escalation"}),
              Event("decided", at(2025, 11, 12), "Manager", stage=1, detail={"escalation": "declined"})],
    }
    return [a, b, c, d, e, f, g, h, thanks, tap], events


def test_every_figure_of_a_year_matches_the_hand_count():
    cases, events = year_of_cases()
    figures, behind = build_report(cases, events, YEAR, 2000, CAL, OUTCOMES)
    one = figures["stage1"]
    assert (one["received"], one["responded"], one["responded_within_timescale"], one["responded_late"]) == (7, 6, 3, 3)
    assert one["ch01_per_1000_homes"] == 3.5  # 7 / 2,000 x 1,000
    assert one["ch02_within_timescale"] == 0.5  # A, B, D of A, B, C, D, E, G
    assert behind["stage1.responded_late"] == ["C", "E", "G"] and behind["stage1.received"] == ["A", "B", "C", "D", "E", "F", "H"]
    assert one["extended"] == 2 and behind["stage1.extended"] == ["D", "E"]
    assert one["extended_beyond_code"] == 1 and behind["stage1.extended_beyond_code"] == ["E"]  # 15 > 10
    assert (one["acknowledged"], one["acknowledged_late"]) == (6, 0)  # C's, on receipt + 5, is on time
    assert one["days_to_acknowledge"] == {"median": 1, "p90": 5}  # A 1, C 5, D 1, E 1, F 1, H 1
    assert one["days_to_respond"] == {"median": 18.5, "p90": 38}  # 9, 15, 16, 21, 27, 38
    assert one["outcomes"] == {"upheld": 3, "partly_upheld": 1, "not_upheld": 2}
    two = figures["stage2"]
    assert (two["received"], two["responded"], two["responded_within_timescale"]) == (1, 1, 1)
    assert two["ch01_per_1000_homes"] == 0.5 and two["ch02_within_timescale"] == 1.0
    assert two["days_to_acknowledge"] == {"median": 2, "p90": 2} and two["days_to_respond"] == {"median": 19, "p90": 19}
    assert two["outcomes"] == {"upheld": 1, "partly_upheld": 0, "not_upheld": 0}
    assert figures["escalation_rate"] == 0.1667  # 1 escalated of 6 stage 1 responses
    assert figures["late_escalations"] == {"requested": 1, "accepted": 0, "declined": 1}
    assert figures["premature_escalations"] == {"requested": 1, "accepted": 0, "declined": 1}
    assert figures["by_signal"]["health_and_safety"] == 1 and figures["by_signal"]["vulnerability"] == 1
    assert (figures["compliments"], figures["ombudsman_mentioned"]) == (1, 1)
    assert figures["open_by_age"] == {"0-10": 1, "11-20": 1, "21-40": 0, "over_40": 0}
    assert behind["open_by_age.11-20"] == ["F"] and behind["open_by_age.0-10"] == ["H"]
    months = {row["month"]: row for row in figures["monthly"]}
    assert list(months)[0] == "2025-04" and list(months)[-1] == "2026-03" and len(months) == 12
    assert months["2026-02"] == {"month": "2026-02", "stage1": 0, "stage2": 1, "responded": 1, "within_timescale": 0}  # E at stage 1, late
    assert months["2025-04"]["responded"] == 1 and months["2025-04"]["within_timescale"] == 0  # G, late
    assert sum(r["stage1"] for r in figures["monthly"]) == 7 and sum(r["within_timescale"] for r in figures["monthly"]) == 4


def test_nothing_answered_gives_no_ch02_and_no_homes_gives_no_ch01():
    figures, _ = build_report([complaint("Z", at(2025, 6, 2))], {}, YEAR, None, CAL, OUTCOMES)
    assert figures["stage1"]["ch02_within_timescale"] is None and figures["stage1"]["ch01_per_1000_homes"] is None
    assert figures["escalation_rate"] is None


def test_the_code_timescale_starts_at_the_earlier_of_acknowledgement_and_receipt_plus_five():
    late_ack = StageFacts(1, at(2025, 9, 1), at(2025, 9, 15))  # acknowledged after receipt + 5 (8 Sep): counts from 8 Sep
    assert code_due(late_ack, CAL) == date(2025, 9, 22)
    assert reporting_year(date(2026, 11, 23)) == Period(date(2025, 4, 1), date(2026, 3, 31))
    assert reporting_year(date(2026, 2, 1)) == Period(date(2024, 4, 1), date(2025, 3, 31))


def test_complaints_are_counted_by_what_they_are_about():
    from mailcomplaints.domain.topics import topics_of

    assert topics_of("Black mould in the bedroom", "The damp is making my son ill") == ("damp_mould",)
    assert topics_of("Complaint", "The contractor missed two appointments and the boiler is still broken") == ("repairs",)
    assert topics_of("Noise", "My neighbour plays music all night and your officer was rude to me") == ("asb", "staff")
    assert topics_of("Hello", "I am writing about my tenancy") == ()
    cases, events = year_of_cases()
    topics = {"A": ["damp_mould", "repairs"], "B": ["repairs"], "C": [], "G": ["repairs"]}
    figures, behind = build_report(cases, events, YEAR, 2000, CAL, OUTCOMES, topics)
    # received in the year: A, B, C, D, E, F, H (G was received before it)
    assert figures["by_category"]["repairs"] == 2 and behind["category.repairs"] == ["A", "B"]
    assert figures["by_category"]["damp_mould"] == 1 and figures["by_category"]["other"] == 5  # C, D, E, F, H

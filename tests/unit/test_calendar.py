"""WorkingCalendar against real dates, worked out by hand.

Anchors: Monday 23 November 2026, so Friday 27 November, Monday 30 November,
Friday 25 December 2026 and Friday 1 January 2027; Easter Sunday is 28 March
2027 (Good Friday 26, Easter Monday 29); British Summer Time runs from Sunday
28 March 2027, so 4 June 2027 (a Friday) is UTC+1 in London; November and
December are GMT (London = UTC).
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import pytest

from mailcomplaints.domain.calendar import (
    LONDON,
    CalendarError,
    WorkingCalendar,
    end_of_day,
    parse_cutoff,
)

ALL = ("england", "wales", "scotland", "northern-ireland")
NOT_SCOTLAND = ("england", "wales", "northern-ireland")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def cal(nation: str = "england", **kwargs) -> WorkingCalendar:
    return WorkingCalendar(nation=nation, **kwargs)


# ---- Christmas and New Year 2026/27 ----------------------------------------


@pytest.mark.parametrize("nation", ALL)
@pytest.mark.parametrize(
    "day, working",
    [
        (date(2026, 12, 24), True),  # Thursday, Christmas Eve: not a bank holiday
        (date(2026, 12, 25), False),  # Friday, Christmas Day
        (date(2026, 12, 26), False),  # Saturday, Boxing Day
        (date(2026, 12, 28), False),  # Monday, Boxing Day observed (26th was a Saturday)
        (date(2026, 12, 29), True),  # Tuesday
        (date(2026, 12, 31), True),  # Thursday
        (date(2027, 1, 1), False),  # Friday, New Year's Day
        (date(2027, 1, 2), False),  # Saturday (a bank holiday too in Scotland)
    ],
)
def test_christmas_and_new_year_everywhere(nation, day, working):
    assert cal(nation).is_working_day(day) is working


def test_boxing_day_observed_on_monday_28_december():
    assert "Boxing Day" in cal("england").bank_holiday(date(2026, 12, 28))


@pytest.mark.parametrize("nation, working", [("england", True), ("wales", True), ("northern-ireland", True), ("scotland", False)])
def test_monday_4_january_2027(nation, working):
    # Scotland's 2 January holiday falls on a Saturday and is observed on Monday 4 January.
    assert cal(nation).is_working_day(date(2027, 1, 4)) is working


def test_scotland_names_the_2_january_substitute():
    assert "New Year" in cal("scotland").bank_holiday(date(2027, 1, 4))
    assert cal("england").bank_holiday(date(2027, 1, 4)) is None


# ---- Easter, St Andrew's, St Patrick's --------------------------------------


@pytest.mark.parametrize("nation", ALL)
def test_good_friday_26_march_2027_everywhere(nation):
    assert not cal(nation).is_working_day(date(2027, 3, 26))


@pytest.mark.parametrize("nation, working", [*((n, False) for n in NOT_SCOTLAND), ("scotland", True)])
def test_easter_monday_29_march_2027_not_in_scotland(nation, working):
    assert cal(nation).is_working_day(date(2027, 3, 29)) is working


@pytest.mark.parametrize("nation, working", [*((n, True) for n in NOT_SCOTLAND), ("scotland", False)])
def test_st_andrews_day_monday_30_november_2026_scotland_only(nation, working):
    assert cal(nation).is_working_day(date(2026, 11, 30)) is working


@pytest.mark.parametrize("nation, working", [("england", True), ("wales", True), ("scotland", True), ("northern-ireland", False)])
def test_st_patricks_day_wednesday_17_march_2027_northern_ireland_only(nation, working):
    assert cal(nation).is_working_day(date(2027, 3, 17)) is working


# ---- the 17:00 cut-off, in London time -------------------------------------


@pytest.mark.parametrize(
    "moment, nation, expected",
    [
        # Friday 27 Nov 2026, GMT so 17:01 UTC is 17:01 London: after the cut-off,
        # so it counts from the next working day, Monday 30 November...
        ("2026-11-27T17:01:00", "england", date(2026, 11, 30)),
        # ...which in Scotland is St Andrew's Day, so Tuesday 1 December.
        ("2026-11-27T17:01:00", "scotland", date(2026, 12, 1)),
        # 16:59 and exactly 17:00 are not after the cut-off: the Friday itself.
        ("2026-11-27T16:59:00", "england", date(2026, 11, 27)),
        ("2026-11-27T17:00:00", "england", date(2026, 11, 27)),
        # 16:30 UTC in winter is 16:30 London: in time.
        ("2026-11-27T16:30:00", "england", date(2026, 11, 27)),
        # Friday 4 June 2027 is BST: 16:30 UTC is 17:30 London, after the cut-off
        # -> Monday 7 June (Spring bank holiday was 31 May, so 7 June is working).
        ("2027-06-04T16:30:00", "england", date(2027, 6, 7)),
        # 15:30 UTC is 16:30 London: in time, the Friday itself.
        ("2027-06-04T15:30:00", "england", date(2027, 6, 4)),
        # Saturday 28 Nov 2026 at 10:00 -> Monday 30 November.
        ("2026-11-28T10:00:00", "england", date(2026, 11, 30)),
        # Christmas Day 10:00 -> 26, 27 weekend, 28 Boxing Day observed -> Tuesday 29 December.
        ("2026-12-25T10:00:00", "england", date(2026, 12, 29)),
    ],
)
def test_counting_day(moment, nation, expected):
    assert cal(nation).counting_day(utc(moment)) == expected


def test_london_time_and_naive_utc_are_the_same_moment():
    # 17:30 BST given in London time, and as a naive datetime taken to be UTC (16:30).
    london = datetime(2027, 6, 4, 17, 30, tzinfo=LONDON)
    naive_utc = datetime(2027, 6, 4, 16, 30)
    assert cal().counting_day(london) == cal().counting_day(naive_utc) == date(2027, 6, 7)


def test_friday_after_cutoff_counts_five_working_days_from_monday():
    # Day 0 is Monday 30 Nov; then Tue 1, Wed 2, Thu 3, Fri 4, Mon 7 December.
    assert cal().working_days_from(utc("2026-11-27T17:01:00"), 5) == date(2026, 12, 7)
    # In Scotland day 0 is Tue 1 Dec; then Wed 2, Thu 3, Fri 4, Mon 7, Tue 8 December.
    assert cal("scotland").working_days_from(utc("2026-11-27T17:01:00"), 5) == date(2026, 12, 8)


@pytest.mark.parametrize("text", ["17:00:00", "5pm", "", "17"])
def test_bad_cutoff(text):
    with pytest.raises(CalendarError):
        parse_cutoff(text)


def test_custom_cutoff():
    # A 16:00 cut-off: 16:30 London on Friday 27 Nov counts from Monday 30 Nov.
    assert cal(cutoff=time(16, 0)).counting_day(utc("2026-11-27T16:30:00")) == date(2026, 11, 30)


# ---- working_days_from across Christmas -------------------------------------


@pytest.mark.parametrize(
    "nation, expected",
    [
        # Wed 23 Dec 10:00 is day 0. Then Thu 24 (1); 25 Christmas, 26-27 weekend,
        # 28 Boxing Day observed; Tue 29 (2), Wed 30 (3), Thu 31 (4); 1 Jan holiday,
        # 2-3 weekend; Mon 4 Jan (5).
        ("england", date(2027, 1, 4)),
        ("wales", date(2027, 1, 4)),
        ("northern-ireland", date(2027, 1, 4)),
        # Scotland: Mon 4 Jan is the 2 January holiday observed, so Tue 5 Jan (5).
        ("scotland", date(2027, 1, 5)),
    ],
)
def test_working_days_from_23_december(nation, expected):
    assert cal(nation).working_days_from(utc("2026-12-23T10:00:00"), 5) == expected


def test_closure_days_between_christmas_and_new_year():
    closed = frozenset({date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)})
    calendar = cal(closure_days=closed)
    assert not calendar.is_working_day(date(2026, 12, 30))
    # Day 0 Wed 23 Dec; Thu 24 (1); 25-28 holidays and weekend; 29-31 closed;
    # 1 Jan holiday, 2-3 weekend; Mon 4 (2), Tue 5 (3), Wed 6 (4), Thu 7 Jan (5).
    assert calendar.working_days_from(utc("2026-12-23T10:00:00"), 5) == date(2027, 1, 7)
    # A complaint arriving on a closure day counts from the next open day, Mon 4 Jan.
    assert calendar.counting_day(utc("2026-12-30T09:00:00")) == date(2027, 1, 4)


def test_add_working_days_zero_and_negative():
    assert cal().add_working_days(date(2026, 12, 23), 0) == date(2026, 12, 23)
    with pytest.raises(CalendarError):
        cal().add_working_days(date(2026, 12, 23), -1)


@pytest.mark.parametrize("nation, expected", [("england", 6), ("scotland", 5)])
def test_working_days_between_23_december_and_5_january(nation, expected):
    # After 23 Dec up to and including 5 Jan: 24, 29, 30, 31 Dec, 4 Jan (not in
    # Scotland), 5 Jan.
    assert cal(nation).working_days_between(date(2026, 12, 23), date(2027, 1, 5)) == expected
    assert cal(nation).working_days_between(date(2027, 1, 5), date(2026, 12, 23)) == 0


# ---- a resident's window of calendar days -----------------------------------


@pytest.mark.parametrize(
    "nation, start, days, expected",
    [
        # Wed 18 Nov + 10 = Sat 28 Nov -> Mon 30 Nov...
        ("england", date(2026, 11, 18), 10, date(2026, 11, 30)),
        # ...or Tue 1 Dec in Scotland, where Mon 30 Nov is St Andrew's Day.
        ("scotland", date(2026, 11, 18), 10, date(2026, 12, 1)),
        # Fri 4 Dec + 21 = Fri 25 Dec -> 26-27 weekend, 28 Boxing Day observed -> Tue 29 Dec.
        ("england", date(2026, 12, 4), 21, date(2026, 12, 29)),
        ("northern-ireland", date(2026, 12, 4), 21, date(2026, 12, 29)),
        # Wed 23 Dec + 10 = Sat 2 Jan -> Mon 4 Jan; Scotland observes 2 Jan on the 4th -> Tue 5 Jan.
        ("england", date(2026, 12, 23), 10, date(2027, 1, 4)),
        ("scotland", date(2026, 12, 23), 10, date(2027, 1, 5)),
        # Mon 23 Nov + 21 = Mon 14 Dec, a working day: unchanged.
        ("england", date(2026, 11, 23), 21, date(2026, 12, 14)),
        # Fri 5 Mar 2027 + 21 = Fri 26 Mar, Good Friday -> 27-28 weekend; Easter
        # Monday 29 Mar -> Tue 30 Mar; in Scotland Easter Monday is working -> Mon 29 Mar.
        ("england", date(2027, 3, 5), 21, date(2027, 3, 30)),
        ("scotland", date(2027, 3, 5), 21, date(2027, 3, 29)),
    ],
)
def test_resident_window_end(nation, start, days, expected):
    assert cal(nation).resident_window_end(start, days) == expected


# ---- nations and end of day -------------------------------------------------


@pytest.mark.parametrize("nation", ["cornwall", "England", "ENG", "uk", ""])
def test_unknown_nation_raises(nation):
    with pytest.raises(CalendarError, match="unknown nation"):
        WorkingCalendar(nation=nation)


def test_end_of_day_is_london_midnight():
    # Due Friday 4 June 2027 (BST): met by anything before 00:00 London on the 5th,
    # which is 23:00 UTC on the 4th.
    deadline = end_of_day(date(2027, 6, 4))
    assert deadline == datetime(2027, 6, 4, 23, 0, tzinfo=timezone.utc)
    # In GMT the same is midnight UTC: Friday 27 Nov 2026 -> 00:00 UTC Saturday.
    assert end_of_day(date(2026, 11, 27)) == datetime(2026, 11, 28, 0, 0, tzinfo=timezone.utc)

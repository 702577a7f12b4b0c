"""The landlord's working-day calendar (DESIGN.md, decision 5).

All reasoning is in Europe/London local time. Weekends, the bank holidays of
the landlord's nation (with substitute days) and the landlord's own closure
days are not working days. An event after the cut-off time, or on a
non-working day, counts from the next working day. "N working days from E"
ends at the end of the Nth working day after that day. A resident's window
that would end on a non-working day runs to the end of the next working day.

Pure: no clock, no I/O. Every function takes the moment or date it reasons about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")

# Rules as data: a nation's name as the config and policies spell it, and the
# `holidays` subdivision of the United Kingdom it maps to.
NATIONS: dict[str, str] = {
    "england": "ENG",
    "wales": "WLS",
    "scotland": "SCT",
    "northern-ireland": "NIR",
}


class CalendarError(ValueError):
    """A calendar setting that cannot be used (unknown nation, bad cut-off)."""


def parse_cutoff(text: str) -> time:
    """'17:00' -> time(17, 0); a clear error for anything else."""
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError):
        raise CalendarError(f"cut-off time {text!r} is not HH:MM, e.g. \"17:00\"") from None


def local(moment: datetime) -> datetime:
    """The moment in London time; a naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(LONDON)


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days a landlord works, and how periods are counted on them."""

    nation: str = "england"
    closure_days: frozenset[date] = field(default_factory=frozenset)
    cutoff: time = time(17, 0)

    def __post_init__(self) -> None:
        if self.nation not in NATIONS:
            known = ", ".join(NATIONS)
            raise CalendarError(f"unknown nation {self.nation!r}; use one of {known}")

    @cached_property
    def _bank_holidays(self) -> holidays.HolidayBase:
        return holidays.country_holidays("GB", subdiv=NATIONS[self.nation])

    def bank_holiday(self, day: date) -> str | None:
        """The bank holiday's name on that day in this nation, else None."""
        return self._bank_holidays.get(day)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._bank_holidays and day not in self.closure_days

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def on_or_after(self, day: date) -> date:
        """`day` itself if it is a working day, else the next one."""
        return day if self.is_working_day(day) else self.next_working_day(day)

    def counting_day(self, moment: datetime) -> date:
        """The working day an event counts from: its own day, unless it came
        after the cut-off or on a non-working day, then the next working day."""
        when = local(moment)
        day = when.date()
        if not self.is_working_day(day) or when.time() > self.cutoff:
            return self.next_working_day(day)
        return day

    def add_working_days(self, day: date, n: int) -> date:
        """The Nth working day after `day` (n >= 0; n == 0 gives `day`)."""
        if n < 0:
            raise CalendarError("a number of working days cannot be negative")
        for _ in range(n):
            day = self.next_working_day(day)
        return day

    def working_days_from(self, moment: datetime, n: int) -> date:
        """The due date of "N working days from" an event at `moment`."""
        return self.add_working_days(self.counting_day(moment), n)

    def resident_window_end(self, start: date, calendar_days: int) -> date:
        """The last day of a resident's window of N calendar days from `start`,
        run on to the next working day when it would end on a non-working day."""
        return self.on_or_after(start + timedelta(days=calendar_days))

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 if end <= start)."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


def end_of_day(day: date) -> datetime:
    """Midnight at the end of `day`, London time: a deadline due on `day` is met
    by anything sent before it."""
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=LONDON)

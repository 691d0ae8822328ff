"""Japanese calendar helpers: JST, day types, business days and half-hour slots.

Everything is in Japan Standard Time (``Asia/Tokyo``, UTC+9, no daylight saving time).
A day has ``slots_per_day`` meter slots (48 half-hours for Japanese smart meters); slot
*number* 1 is 00:00–00:30 and corresponds to array *index* 0.

Day types for negawatt baselines (ネガワット取引のベースライン): a weekday (平日) versus a
Saturday, Sunday or national holiday (土日祝日). National holidays come from the ``holidays``
package's Japan calendar (祝日, including substitute holidays 振替休日 and citizens'
holidays 国民の休日).

Business days: a :class:`BusinessCalendar` is the holidays plus closure days recurring each
year (:class:`Closure`, e.g. a TSO's year-end closure 12/29–1/3, which
:mod:`jointuse.flows.dates` reads from data), optionally with Saturdays open (some meter-reading
schedules). Its per-year tables are memoised, so counting business days is a bisection.
"""

from __future__ import annotations

import datetime as dt
import enum
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import numpy.typing as npt

from jointuse.core.errors import ValidationError

__all__ = [
    "BASELINE_NON_WORKING",
    "BASELINE_WEEKDAY",
    "JST",
    "STANDARD_CALENDAR",
    "YEAR_END_CALENDAR",
    "YEAR_END_CLOSURE",
    "BusinessCalendar",
    "Closure",
    "DayType",
    "add_business_days",
    "baseline_day_type",
    "baseline_day_types",
    "business_days_between",
    "day_type",
    "is_business_day",
    "is_holiday",
    "slot_index",
    "slot_start",
]

JST = ZoneInfo("Asia/Tokyo")

#: Day-type codes used by :mod:`jointuse.negawatt.kernel` (index into ``BaselineParams.rules``).
BASELINE_WEEKDAY = 0
BASELINE_NON_WORKING = 1


class DayType(enum.IntEnum):
    """Calendar day type. A national holiday wins over the weekday name."""

    WEEKDAY = 0
    SATURDAY = 1
    SUNDAY = 2
    HOLIDAY = 3


@cache
def _holidays_of_year(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("JP", years=year).keys())


def is_holiday(day: dt.date) -> bool:
    """True if ``day`` is a Japanese national holiday (祝日・振替休日・国民の休日)."""
    return day in _holidays_of_year(day.year)


def day_type(day: dt.date) -> DayType:
    """The calendar day type of ``day`` (holiday first, then Saturday / Sunday / weekday)."""
    if is_holiday(day):
        return DayType.HOLIDAY
    weekday = day.weekday()
    if weekday == 5:
        return DayType.SATURDAY
    if weekday == 6:
        return DayType.SUNDAY
    return DayType.WEEKDAY


def baseline_day_type(day: dt.date) -> int:
    """Baseline day-type code: :data:`BASELINE_WEEKDAY` or :data:`BASELINE_NON_WORKING`."""
    return BASELINE_WEEKDAY if day_type(day) is DayType.WEEKDAY else BASELINE_NON_WORKING


def baseline_day_types(days: Iterable[dt.date]) -> npt.NDArray[np.int8]:
    """Baseline day-type codes for consecutive (or any) days, as the kernel's day-type vector."""
    return np.fromiter((baseline_day_type(d) for d in days), dtype=np.int8)


@dataclass(frozen=True, slots=True)
class Closure:
    """Days closed every year, from ``start`` to ``end`` inclusive, each a ``(month, day)``.

    A range may run over the new year: ``Closure((12, 29), (1, 3))`` is the year-end closure
    (年末年始) 29 December – 3 January. A single day is ``Closure((8, 15), (8, 15))``.
    """

    start: tuple[int, int]
    end: tuple[int, int]

    def __post_init__(self) -> None:
        for name, (month, day) in (("start", self.start), ("end", self.end)):
            try:
                dt.date(2000, month, day)  # a leap year: 29 February is a valid day
            except (TypeError, ValueError):
                raise ValidationError(
                    f"closure {name} {month}-{day} is not a day of the year",
                    field=f"closure.{name}",
                    valid="MM-DD, e.g. 12-29",
                ) from None

    @classmethod
    def parse(cls, start: str, end: str) -> Closure:
        """From ``"MM-DD"`` texts (``Closure.parse("12-29", "01-03")``)."""
        return cls(_month_day(start, "closure.start"), _month_day(end, "closure.end"))

    def contains(self, day: dt.date) -> bool:
        md = (day.month, day.day)
        if self.start <= self.end:
            return self.start <= md <= self.end
        return md >= self.start or md <= self.end


def _month_day(text: str, field: str) -> tuple[int, int]:
    month, sep, day = text.strip().partition("-")
    if not (sep and month.isdigit() and day.isdigit() and len(month) == len(day) == 2):
        raise ValidationError(
            f"{text!r} is not a month and day", field=field, valid="MM-DD, e.g. 12-29"
        )
    return int(month), int(day)


#: The year-end closure 29 December – 3 January (年末年始) many Japanese businesses observe.
YEAR_END_CLOSURE = Closure((12, 29), (1, 3))


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Business days: weekdays (and Saturdays where ``saturdays``) that are neither a national
    holiday nor inside one of ``closures``.

    Frozen and hashable, so the per-year tables behind its methods are computed once per
    calendar and year (memoised) and every query after that is a set lookup or a bisection.
    """

    closures: tuple[Closure, ...] = ()
    saturdays: bool = False

    def is_business_day(self, day: dt.date) -> bool:
        return day.toordinal() in _business_set(self, day.year)

    def add_business_days(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th business day after ``day`` (``n`` ≥ 0; ``n`` = 0 returns ``day``)."""
        if n < 0:
            raise ValidationError(
                f"business-day count must be non-negative, got {n}", field="n", valid=">= 0"
            )
        if n == 0:
            return day
        after, year, remaining = day.toordinal(), day.year, n
        for _ in range(_MAX_EMPTY_YEARS):
            days = _business_ordinals(self, year)
            first = bisect_right(days, after)
            available = len(days) - first
            if remaining <= available:
                return dt.date.fromordinal(days[first + remaining - 1])
            remaining -= available
            year += 1
            after = dt.date(year, 1, 1).toordinal() - 1
        raise ValidationError(  # only a calendar that closes (nearly) every day gets here
            f"no {n} business days within {_MAX_EMPTY_YEARS} years after {day}",
            field="n",
            valid="a calendar with business days",
        )

    def business_days_between(self, start: dt.date, end: dt.date) -> int:
        """Business days in (``start``, ``end``]; negative if ``end`` < ``start``."""
        if end < start:
            return -self.business_days_between(end, start)
        count = 0
        for year in range(start.year, end.year + 1):
            days = _business_ordinals(self, year)
            low = bisect_right(days, start.toordinal()) if year == start.year else 0
            high = bisect_right(days, end.toordinal()) if year == end.year else len(days)
            count += high - low
        return count

    def business_days_of_month(self, year: int, month: int) -> tuple[dt.date, ...]:
        """The business days of one month, in order (memoised)."""
        return _business_days_of_month(self, year, month)


_MAX_EMPTY_YEARS = 50


@cache
def _business_ordinals(calendar: BusinessCalendar, year: int) -> tuple[int, ...]:
    first = dt.date(year, 1, 1).toordinal()
    last = dt.date(year, 12, 31).toordinal()
    open_weekdays = 6 if calendar.saturdays else 5
    out: list[int] = []
    for ordinal in range(first, last + 1):
        day = dt.date.fromordinal(ordinal)
        if day.weekday() >= open_weekdays or is_holiday(day):
            continue
        if any(c.contains(day) for c in calendar.closures):
            continue
        out.append(ordinal)
    return tuple(out)


@cache
def _business_set(calendar: BusinessCalendar, year: int) -> frozenset[int]:
    return frozenset(_business_ordinals(calendar, year))


@cache
def _business_days_of_month(
    calendar: BusinessCalendar, year: int, month: int
) -> tuple[dt.date, ...]:
    days = (dt.date.fromordinal(o) for o in _business_ordinals(calendar, year))
    return tuple(d for d in days if d.month == month)


#: Weekdays that are not national holidays.
STANDARD_CALENDAR = BusinessCalendar()
#: …and not in the year-end closure 29 December – 3 January.
YEAR_END_CALENDAR = BusinessCalendar((YEAR_END_CLOSURE,))


def is_business_day(day: dt.date, *, year_end_closure: bool = False) -> bool:
    """A weekday that is not a national holiday.

    ``year_end_closure`` also closes 29 December – 3 January, which many Japanese businesses
    observe (年末年始); whether a given counterparty does is *(unverified)* — hence a flag. A
    calendar of other closures (a TSO's, from data) is a :class:`BusinessCalendar`.
    """
    calendar = YEAR_END_CALENDAR if year_end_closure else STANDARD_CALENDAR
    return calendar.is_business_day(day)


def add_business_days(day: dt.date, n: int, *, year_end_closure: bool = False) -> dt.date:
    """The ``n``-th business day after ``day`` (``n`` ≥ 0; ``n`` = 0 returns ``day`` itself)."""
    calendar = YEAR_END_CALENDAR if year_end_closure else STANDARD_CALENDAR
    return calendar.add_business_days(day, n)


def business_days_between(start: dt.date, end: dt.date, *, year_end_closure: bool = False) -> int:
    """Business days in (``start``, ``end``]; negative if ``end`` < ``start``."""
    calendar = YEAR_END_CALENDAR if year_end_closure else STANDARD_CALENDAR
    return calendar.business_days_between(start, end)


def _check_slots(slots_per_day: int) -> int:
    if slots_per_day <= 0 or 1440 % slots_per_day != 0:
        raise ValidationError(
            f"slots_per_day must divide a day into whole minutes, got {slots_per_day}",
            field="slots_per_day",
            valid="a divisor of 1440, e.g. 24, 48, 96",
        )
    return 1440 // slots_per_day


def slot_start(day: dt.date, index: int, slots_per_day: int = 48) -> dt.datetime:
    """Start (JST, aware) of slot ``index`` (0-based; slot number ``index + 1``) of ``day``."""
    minutes = _check_slots(slots_per_day)
    if not 0 <= index < slots_per_day:
        raise ValidationError(
            f"slot index {index} out of range", field="index", valid=f"0..{slots_per_day - 1}"
        )
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=JST)
    return midnight + dt.timedelta(minutes=minutes * index)


def slot_index(moment: dt.datetime, slots_per_day: int = 48) -> tuple[dt.date, int]:
    """The JST day and 0-based slot index containing ``moment`` (must be timezone-aware)."""
    minutes = _check_slots(slots_per_day)
    if moment.tzinfo is None:
        raise ValidationError(
            "datetime must be timezone-aware", field="moment", valid="an aware datetime"
        )
    local = moment.astimezone(JST)
    index = (local.hour * 60 + local.minute) // minutes
    return local.date(), index

"""Japanese calendar helpers: JST, day types, business days and half-hour slots.

Everything is in Japan Standard Time (``Asia/Tokyo``, UTC+9, no daylight saving time).
A day has ``slots_per_day`` meter slots (48 half-hours for Japanese smart meters); slot
*number* 1 is 00:00–00:30 and corresponds to array *index* 0.

Day types for negawatt baselines (ネガワット取引のベースライン): a weekday (平日) versus a
Saturday, Sunday or national holiday (土日祝日). National holidays come from the ``holidays``
package's Japan calendar (祝日, including substitute holidays 振替休日 and citizens'
holidays 国民の休日).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
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


def is_business_day(day: dt.date, *, year_end_closure: bool = False) -> bool:
    """A weekday that is not a national holiday.

    ``year_end_closure`` also closes 29 December – 3 January, which many Japanese businesses
    observe (年末年始); whether a given counterparty does is *(unverified)* — hence a flag.
    """
    if day_type(day) is not DayType.WEEKDAY:
        return False
    year_end = (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)
    return not (year_end_closure and year_end)


def add_business_days(day: dt.date, n: int, *, year_end_closure: bool = False) -> dt.date:
    """The ``n``-th business day after ``day`` (``n`` ≥ 0; ``n`` = 0 returns ``day`` itself)."""
    if n < 0:
        raise ValidationError(
            f"business-day count must be non-negative, got {n}", field="n", valid=">= 0"
        )
    current = day
    remaining = n
    while remaining > 0:
        current += dt.timedelta(days=1)
        if is_business_day(current, year_end_closure=year_end_closure):
            remaining -= 1
    return current


def business_days_between(start: dt.date, end: dt.date, *, year_end_closure: bool = False) -> int:
    """Business days in (``start``, ``end``]; negative if ``end`` < ``start``."""
    if end < start:
        return -business_days_between(end, start, year_end_closure=year_end_closure)
    count = 0
    current = start
    while current < end:
        current += dt.timedelta(days=1)
        if is_business_day(current, year_end_closure=year_end_closure):
            count += 1
    return count


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

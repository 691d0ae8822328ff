"""Dates of the flows: the earliest date after matching, the switching date, deadlines.

Pure: no database, no I/O beyond reading two shipped data files once
(``jointuse/data/switching_lead_times.toml``, ``jointuse/data/tso_calendars.toml``, through
:mod:`jointuse.parties.tso_dates`, whose types this module re-exports). Business days are a
:class:`jointuse.core.calendar.BusinessCalendar`: not a weekend, not a national holiday (the
``holidays`` package: 振替休日 and 国民の休日 included), not one of the TSO's closure days.

The rule (``docs/market-facts.md``): a switch takes effect on the point's scheduled
meter-reading day (定例検針日) on or after the end of the standard processing period counted from
the matching, or on the customer's wished date if that is later. :func:`switch_date` computes it,
:func:`earliest_date` the end of the period, :func:`reading_day` / :func:`next_reading_day` the
schedule, :func:`deadline` (:func:`judgement_deadline`, :func:`matching_deadline`) the flows'
deadlines in the TSO's business days.

What is fact and what is placeholder (each data file says it again, entry by entry):

* **Lead times** — one TSO's published figures (``docs/market-facts.md``), applied to all ten
  until each TSO's own are entered: *unverified* per TSO.
* **Closure days** — 12/29–1/3 for all ten: a *placeholder*, commonly observed.
* **Meter-reading schedules** — the 検針日 code (基本検針日, the supply point item 検針日) maps to
  the (first_working_day + k − 1)-th working day of each month for the k-th code in use. The
  rules of tso-01..tso-04 follow a summary by the former utilities (*unverified* against today's
  published 定例検針日一覧表); tso-05..tso-10 are a generic *placeholder* (codes 01–20 on the
  1st–20th business day). The month's dates are computed, not listed: a TSO's official annual
  table can replace the rule without changing callers.

Fast: every table is built once per TSO and month (or year) and memoised, as are the end of a
lead time per (TSO, day, class, meter work), the next reading day per (TSO, code, day) and a
switching date per argument tuple (``benchmarks/judgement_dates.py``: 100,000 switching dates
cold in 1–3 s on a shared 2-core machine, warm in about a tenth of that).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from types import MappingProxyType
from typing import Literal

from jointuse.core.calendar import JST, BusinessCalendar, is_holiday
from jointuse.core.errors import ConfigError, ValidationError
from jointuse.parties.tso_dates import (
    CALENDARS_FILE,
    LEAD_TIMES_FILE,
    CapacityClass,
    LeadTime,
    ReadingRule,
    TsoDates,
    load_tso_dates,
    parse_tso_dates,
    tso_dates,
)

#: The old retailer answers a 廃止取次 within this many business days (as FlowSettings).
JUDGEMENT_BUSINESS_DAYS = 2
#: A matched switch is dated by the TSO within this many business days (as FlowSettings).
MATCHING_BUSINESS_DAYS = 3


@dataclass(frozen=True, slots=True)
class SwitchDate:
    """A switching date and how it was reached (what the TSO's screen shows).

    ``basis`` is ``"meter_reading_day"`` (the scheduled reading day on or after ``earliest``),
    ``"wished_date"`` (the customer's, later than that) or ``"earliest"`` (no 検針日 code given).
    """

    day: date
    earliest: date
    scheduled: date | None
    basis: Literal["meter_reading_day", "wished_date", "earliest"]
    lead_time: LeadTime


# --- validation of inputs ----------------------------------------------------------------------


_CLASSES: dict[object, CapacityClass] = {k.value: k for k in CapacityClass}


def capacity_class(value: str | CapacityClass) -> CapacityClass:
    found = _CLASSES.get(value)
    if found is None:
        raise ValidationError(
            f"capacity_class {str(value)[:40]!r} is unknown",
            field="capacity_class",
            valid=[k.value for k in CapacityClass],
        )
    return found


def normalise_reading_code(value: str | int) -> str:
    """A 検針日 code as two ASCII digits: ``5``, ``"5"``, ``"05"``, ``"０５"`` → ``"05"``."""
    if type(value) is int and 0 <= value <= 99:
        return f"{value:02d}"
    text = unicodedata.normalize("NFKC", str(value)).strip() if not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and 1 <= len(text) <= 2):
        raise ValidationError(
            f"meter_reading_code {str(value)[:40]!r} is not a 検針日 code",
            field="meter_reading_code",
            valid="two digits, e.g. 05",
        )
    return text.zfill(2)


def reading_codes(tso: str) -> tuple[str, ...]:
    """The 検針日 codes ``tso`` uses, in order."""
    return tso_dates(tso).reading.codes


def _code(tso: str, value: str | int) -> str:
    code = normalise_reading_code(value)
    codes = tso_dates(tso).reading.code_set
    if code not in codes:
        raise ValidationError(
            f"検針日 code {code} is not in {tso}'s meter-reading schedule",
            field="meter_reading_code",
            valid=list(tso_dates(tso).reading.codes),
        )
    return code


# --- business days, lead times, deadlines --------------------------------------------------------


def business_calendar(tso: str, *, closures: bool = True) -> BusinessCalendar:
    """``tso``'s business days (without its closure days when ``closures`` is false)."""
    return tso_dates(tso).calendar if closures else BusinessCalendar()


def lead_time(tso: str, klass: str | CapacityClass, meter_work: bool) -> LeadTime:
    return tso_dates(tso).lead_times[(capacity_class(klass), bool(meter_work))]


@lru_cache(maxsize=1 << 16)
def _earliest(tso: str, day: date, klass: CapacityClass, meter_work: bool, closures: bool) -> date:
    data = tso_dates(tso)
    lead = data.lead_times[(klass, meter_work)]
    calendar = data.calendar if closures else BusinessCalendar()
    end = calendar.add_business_days(day, lead.business_days)
    return end + timedelta(days=lead.calendar_days)


def earliest_date(
    tso: str,
    matched_on: date,
    klass: str | CapacityClass = CapacityClass.LOW_VOLTAGE,
    meter_work: bool = False,
    *,
    closures: bool = True,
) -> date:
    """The end of the standard processing period after the matching day ``matched_on``:
    ``business_days`` of the TSO's calendar, then ``calendar_days`` (see the lead-time data)."""
    tso_dates(tso)
    return _earliest(tso, matched_on, capacity_class(klass), bool(meter_work), closures)


def deadline(tso: str, at: datetime, business_days: int, *, closures: bool = True) -> datetime:
    """The end (JST midnight after) of the ``business_days``-th business day of ``tso``'s
    calendar after ``at``'s JST day. ``at`` must be timezone-aware."""
    if at.tzinfo is None:
        raise ValidationError("at must be timezone-aware", field="at", valid="an aware datetime")
    day = business_calendar(tso, closures=closures).add_business_days(
        at.astimezone(JST).date(), business_days
    )
    nxt = day + timedelta(days=1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=JST)


def judgement_deadline(
    tso: str, forwarded_at: datetime, business_days: int = JUDGEMENT_BUSINESS_DAYS
) -> datetime:
    """When an unanswered 廃止取次 expires: ``business_days`` (default 2, a placeholder) after
    it was forwarded."""
    return deadline(tso, forwarded_at, business_days)


def matching_deadline(
    tso: str, matched_at: datetime, business_days: int = MATCHING_BUSINESS_DAYS
) -> datetime:
    """When a matched switch the TSO has not dated expires: ``business_days`` (default 3, a
    placeholder) after the matching."""
    return deadline(tso, matched_at, business_days)


# --- the meter-reading schedule ------------------------------------------------------------------


@cache
def month_schedule(tso: str, year: int, month: int) -> Mapping[str, date]:
    """Every 検針日 code of ``tso`` → its scheduled reading day in that month (memoised)."""
    rule = tso_dates(tso).reading
    need = rule.first_working_day - 1 + len(rule.codes)
    days = list(rule.calendar.business_days_of_month(year, month))
    if len(days) < need:
        # Too few working days: the latest Saturdays, then the latest Sundays and holidays,
        # as few as needed (a placeholder for "holidays may become reading days").
        taken = set(days)
        first = date(year, month, 1)
        span = ((first.replace(month=month % 12 + 1, year=year + month // 12)) - first).days
        candidates = [
            d
            for d in (first + timedelta(days=i) for i in range(span))
            if d not in taken and not any(c.contains(d) for c in rule.calendar.closures)
        ]
        candidates.sort(key=lambda d: (d.weekday() != 5 or is_holiday(d), -d.toordinal()))
        days = sorted(days + candidates[: need - len(days)])
    if len(days) < need:  # closures leave too few days in the month: the data is wrong
        raise ConfigError(
            f"{tso}: {year}-{month:02d} has {len(days)} reading days, {need} needed",
            file=CALENDARS_FILE,
        )
    start = rule.first_working_day - 1
    return MappingProxyType(dict(zip(rule.codes, days[start:need], strict=True)))


def reading_day(tso: str, code: str | int, year: int, month: int) -> date:
    """The scheduled reading day of 検針日 ``code`` in ``year``-``month``."""
    return month_schedule(tso, year, month)[_code(tso, code)]


@lru_cache(maxsize=1 << 16)
def _next_reading(tso: str, code: str, start: date) -> date:
    year, month = start.year, start.month
    while True:  # a code is read every month: at most two iterations
        day = month_schedule(tso, year, month)[code]
        if day >= start:
            return day
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def next_reading_day(tso: str, code: str | int, on_or_after: date) -> date:
    """The first scheduled reading day of 検針日 ``code`` on or after ``on_or_after``."""
    return _next_reading(tso, _code(tso, code), on_or_after)


# --- the switching date --------------------------------------------------------------------------


def switch_date(
    tso: str,
    matched_on: date,
    meter_reading_code: str | int | None,
    wished_date: date | None = None,
    *,
    klass: str | CapacityClass = CapacityClass.LOW_VOLTAGE,
    meter_work: bool = False,
    today: date | None = None,
    closures: bool = True,
) -> SwitchDate:
    """The switching date: the scheduled reading day of ``meter_reading_code`` on or after the
    earliest date after matching, or ``wished_date`` if later. Without a code (a point without a
    schedule), the earliest date stands in for the reading day.

    ``today`` (default ``matched_on``) is the day of the computation: a wished date before it is
    refused. A wished date before the reading day is not refused: the reading day is taken.
    Memoised per argument tuple (a refusal is not memoised).
    """
    if isinstance(meter_reading_code, bool):  # True == 1 would share the code 01's memo
        normalise_reading_code(meter_reading_code)
    return _switch_date(
        tso, matched_on, meter_reading_code, wished_date, klass, bool(meter_work), today, closures
    )


@lru_cache(maxsize=1 << 17)
def _switch_date(
    tso: str,
    matched_on: date,
    meter_reading_code: str | int | None,
    wished_date: date | None,
    klass: str | CapacityClass,
    meter_work: bool,
    today: date | None,
    closures: bool,
) -> SwitchDate:
    data, klass = tso_dates(tso), capacity_class(klass)
    earliest = _earliest(tso, matched_on, klass, meter_work, closures)
    now = matched_on if today is None else today
    if wished_date is not None and wished_date < now:
        raise ValidationError(
            f"wished_date {wished_date} is in the past", field="wished_date", valid=f">= {now}"
        )
    scheduled = None
    basis: Literal["meter_reading_day", "wished_date", "earliest"] = "earliest"
    chosen = earliest
    if meter_reading_code is not None:
        scheduled = next_reading_day(tso, meter_reading_code, earliest)
        chosen, basis = scheduled, "meter_reading_day"
    if wished_date is not None and wished_date > chosen:
        chosen, basis = wished_date, "wished_date"
    return SwitchDate(chosen, earliest, scheduled, basis, data.lead_times[(klass, meter_work)])


__all__ = [
    "CALENDARS_FILE",
    "JUDGEMENT_BUSINESS_DAYS",
    "LEAD_TIMES_FILE",
    "MATCHING_BUSINESS_DAYS",
    "CapacityClass",
    "LeadTime",
    "ReadingRule",
    "SwitchDate",
    "TsoDates",
    "business_calendar",
    "capacity_class",
    "deadline",
    "earliest_date",
    "judgement_deadline",
    "lead_time",
    "load_tso_dates",
    "matching_deadline",
    "month_schedule",
    "next_reading_day",
    "normalise_reading_code",
    "parse_tso_dates",
    "reading_codes",
    "reading_day",
    "switch_date",
    "tso_dates",
]

"""Calendar: JST, day types from the Japanese holiday calendar, business days, slots."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jointuse.core.calendar import (
    JST,
    STANDARD_CALENDAR,
    YEAR_END_CALENDAR,
    YEAR_END_CLOSURE,
    BusinessCalendar,
    Closure,
    DayType,
    add_business_days,
    baseline_day_type,
    business_days_between,
    day_type,
    is_business_day,
    is_holiday,
    slot_index,
    slot_start,
)
from jointuse.core.errors import ValidationError


def test_day_types() -> None:
    assert day_type(dt.date(2024, 5, 2)) is DayType.WEEKDAY  # Thursday
    assert day_type(dt.date(2024, 5, 4)) is DayType.HOLIDAY  # Greenery Day, a Saturday
    assert day_type(dt.date(2024, 5, 6)) is DayType.HOLIDAY  # substitute holiday (Monday)
    assert day_type(dt.date(2024, 5, 11)) is DayType.SATURDAY
    assert day_type(dt.date(2024, 5, 12)) is DayType.SUNDAY
    assert baseline_day_type(dt.date(2024, 5, 6)) == 1
    assert baseline_day_type(dt.date(2024, 5, 7)) == 0


def test_business_days_skip_weekends_and_holidays() -> None:
    # Tue 2024-04-30 + 1 business day: 05-01 (Wed); + 3: 05-07 (05-03..05-06 are off).
    assert add_business_days(dt.date(2024, 4, 30), 1) == dt.date(2024, 5, 1)
    assert add_business_days(dt.date(2024, 4, 30), 3) == dt.date(2024, 5, 7)
    assert business_days_between(dt.date(2024, 4, 30), dt.date(2024, 5, 7)) == 3
    assert business_days_between(dt.date(2024, 5, 7), dt.date(2024, 4, 30)) == -3
    assert is_business_day(dt.date(2024, 12, 30))
    assert not is_business_day(dt.date(2024, 12, 30), year_end_closure=True)
    with pytest.raises(ValidationError):
        add_business_days(dt.date(2024, 1, 1), -1)


def test_slots_are_jst_half_hours() -> None:
    start = slot_start(dt.date(2024, 7, 1), 0)
    assert start == dt.datetime(2024, 7, 1, 0, 0, tzinfo=JST)
    assert start.utcoffset() == dt.timedelta(hours=9)
    assert slot_start(dt.date(2024, 7, 1), 47).time() == dt.time(23, 30)
    # 14:45 UTC on 30 June is 23:45 JST: slot index 47 (slot number 48) of 30 June.
    moment = dt.datetime(2024, 6, 30, 14, 45, tzinfo=dt.UTC)
    assert slot_index(moment) == (dt.date(2024, 6, 30), 47)
    assert slot_index(dt.datetime(2024, 7, 1, 9, 59, tzinfo=JST), 96) == (dt.date(2024, 7, 1), 39)
    with pytest.raises(ValidationError) as err:
        slot_index(dt.datetime(2024, 7, 1, 9, 0))
    assert err.value.field == "moment"
    with pytest.raises(ValidationError):
        slot_start(dt.date(2024, 7, 1), 48)


def test_closures_recur_each_year_and_may_run_over_the_new_year() -> None:
    year_end = Closure.parse("12-29", "01-03")
    assert year_end == YEAR_END_CLOSURE
    assert year_end.contains(dt.date(2024, 12, 29)) and year_end.contains(dt.date(2031, 1, 3))
    assert not year_end.contains(dt.date(2024, 12, 28)) and not year_end.contains(
        dt.date(2025, 1, 4)
    )
    obon = Closure((8, 13), (8, 16))
    assert obon.contains(dt.date(2024, 8, 13)) and not obon.contains(dt.date(2024, 8, 17))
    assert Closure((2, 29), (2, 29)).contains(dt.date(2024, 2, 29))
    for start, end in (("13-01", "01-01"), ("12-32", "01-01"), ("1-3", "01-04"), ("xx", "01-01")):
        with pytest.raises(ValidationError) as err:
            Closure.parse(start, end)
        assert err.value.field in ("closure.start", "closure.end")


def test_business_calendars_with_closures_and_open_saturdays() -> None:
    obon = BusinessCalendar((Closure((8, 13), (8, 16)),))
    # Fri 9 Aug 2024 + 1: Mon 12 Aug is 振替休日 (山の日 on Sunday), 13–16 closed → Mon 19.
    assert obon.add_business_days(dt.date(2024, 8, 9), 1) == dt.date(2024, 8, 19)
    assert STANDARD_CALENDAR.add_business_days(dt.date(2024, 8, 9), 1) == dt.date(2024, 8, 13)
    assert obon.business_days_between(dt.date(2024, 8, 9), dt.date(2024, 8, 19)) == 1
    saturdays = BusinessCalendar(saturdays=True)
    assert saturdays.is_business_day(dt.date(2024, 6, 1))  # a Saturday
    assert not saturdays.is_business_day(dt.date(2024, 5, 4))  # a Saturday, みどりの日
    assert not saturdays.is_business_day(dt.date(2024, 6, 2))  # a Sunday
    june = STANDARD_CALENDAR.business_days_of_month(2024, 6)
    assert len(june) == 20 and june[0] == dt.date(2024, 6, 3) and june[-1] == dt.date(2024, 6, 28)
    # Across years: the year-end calendar skips 29 Dec – 3 Jan and the weekend after.
    assert YEAR_END_CALENDAR.add_business_days(dt.date(2024, 12, 27), 1) == dt.date(2025, 1, 6)
    assert YEAR_END_CALENDAR.business_days_between(dt.date(2024, 12, 1), dt.date(2025, 1, 31)) == (
        20 + 19
    )
    never = BusinessCalendar((Closure((1, 1), (12, 31)),))
    with pytest.raises(ValidationError):
        never.add_business_days(dt.date(2024, 1, 1), 1)


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31)),
    n=st.integers(0, 400),
    closure=st.booleans(),
    saturdays=st.booleans(),
)
def test_adding_business_days_agrees_with_counting_them_one_by_one(
    day: dt.date, n: int, closure: bool, saturdays: bool
) -> None:
    calendar = BusinessCalendar((YEAR_END_CLOSURE,) if closure else (), saturdays=saturdays)
    end = calendar.add_business_days(day, n)
    assert calendar.business_days_between(day, end) == n
    assert calendar.business_days_between(end, day) == -n
    if n:
        assert calendar.is_business_day(end)
        # One by one, the slow way: the n-th day after ``day`` that is open.
        current, left = day, n
        while left:
            current += dt.timedelta(days=1)
            weekday_open = current.weekday() < (6 if saturdays else 5)
            closed = closure and (
                (current.month == 12 and current.day >= 29)
                or (current.month == 1 and current.day <= 3)
            )
            if weekday_open and not is_holiday(current) and not closed:
                left -= 1
        assert current == end

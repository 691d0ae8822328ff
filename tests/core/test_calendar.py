"""Calendar: JST, day types from the Japanese holiday calendar, business days, slots."""

from __future__ import annotations

import datetime as dt

import pytest

from jointuse.core.calendar import (
    JST,
    DayType,
    add_business_days,
    baseline_day_type,
    business_days_between,
    day_type,
    is_business_day,
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

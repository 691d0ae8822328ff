"""Worked examples of the baseline kernel and settlement, every expected number computed by hand.

Most examples use 4 slots a day (6-hour slots) so that a day is a handful of numbers; the event
window is slots [2, 4) (12:00–24:00) unless stated. ``_days(*values)`` makes a day whose every
slot holds the same value, so a day's window average is simply that value.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from jointuse.core.calendar import baseline_day_types
from jointuse.core.errors import ValidationError
from jointuse.negawatt.kernel import (
    STATUS_ADJUSTMENT_DATA_MISSING,
    STATUS_EVENT_DATA_MISSING,
    STATUS_OK,
    STATUS_TOO_FEW_DAYS,
    BaselineParams,
    DayTypeRule,
    EventSpec,
    compute_baseline,
)
from jointuse.negawatt.settlement import Rounding, settle

S = 4
NO_ADJ = BaselineParams(slots_per_day=S, adjustment="none")
EVENT_WINDOW = (2, 4)


def _days(*values: float) -> np.ndarray:
    """One resource, one day per value, every slot of a day equal to its value."""
    return np.repeat(np.asarray(values, dtype=float)[None, :, None], S, axis=2)


def _bits(*offsets: int) -> int:
    """Bitmask of days ``event_day - offset`` (offset 1 = the day before the event)."""
    return sum(1 << (o - 1) for o in offsets)


def _run(loads, day_types=None, events=None, event_day=None, params=NO_ADJ):
    d = loads.shape[1]
    event_day = d - 1 if event_day is None else event_day
    day_types = np.zeros(d, dtype=np.int8) if day_types is None else day_types
    events = np.zeros((1, d), dtype=bool) if events is None else events
    return compute_baseline(loads, day_types, events, EventSpec(event_day, *EVENT_WINDOW), params)


def test_high_4_of_5_tie_drops_the_day_farthest_from_the_event() -> None:
    # Days 0..4 hold 10, 12, 10, 14, 16; the event is day 5. The lowest value 10 appears on
    # day 0 and day 2: day 0 is farther from the event, so it is dropped.
    # Baseline = (12 + 10 + 14 + 16) / 4 = 52 / 4 = 13.0.
    r = _run(_days(10, 12, 10, 14, 16, 0))
    assert r.status[0] == STATUS_OK
    np.testing.assert_array_equal(r.baseline[0], [13.0] * S)
    assert int(r.used_days[0, 0]) == _bits(1, 2, 3, 4)  # days 4, 3, 2, 1
    assert int(r.dropped_low[0, 0]) == _bits(5)  # day 0
    assert r.n_used[0, 0] == 4


def test_a_tie_in_decimals_is_exact_not_decided_by_float_noise() -> None:
    # Window slots [1, 4). Day 0 holds 0.1, 0.2, 0.3 and day 1 holds 0.3, 0.2, 0.1 there: the
    # same 0.6 kWh, but in binary 0.1 + 0.2 + 0.3 = 0.6000000000000001 and 0.3 + 0.2 + 0.1 =
    # 0.6, so float sums make day 1 (the nearer one) look smaller. Days 2..4 hold 10. The tie
    # drops day 0 (the farthest): baseline slot 0 = (7 + 10 + 10 + 10) / 4 = 9.25, not 8.75.
    loads = _days(0, 0, 10, 10, 10, 0)
    loads[0, 0] = [5.0, 0.1, 0.2, 0.3]
    loads[0, 1] = [7.0, 0.3, 0.2, 0.1]
    p = BaselineParams(S, adjustment="none", low_usage_fraction=None)
    r = compute_baseline(loads, np.zeros(6, np.int8), np.zeros((1, 6), bool), EventSpec(5, 1, 4), p)
    assert int(r.dropped_low[0, 0]) == _bits(5)  # day 0
    assert r.baseline[0, 0] == 9.25


def test_holiday_in_the_window_is_not_a_weekday() -> None:
    # Event on Tuesday 2024-05-07, right after Golden Week. Days from Thursday 2024-04-25.
    # Weekdays before it, most recent first: 05-02 (Thu), 05-01, 04-30, (04-29 is Shōwa Day,
    # a holiday), 04-26, 04-25. Weekend and 05-03..05-06 (holidays) are skipped too.
    dates = [dt.date(2024, 4, 25) + dt.timedelta(days=i) for i in range(13)]
    types = baseline_day_types(dates)
    assert list(types) == [0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0]
    # Values: 04-25 → 5, 04-26 → 6, 04-29 (holiday) → 100, 04-30 → 7, 05-01 → 8, 05-02 → 9;
    # non-working days 50. High 4 of 5 of {9, 8, 7, 6, 5} drops 5 (04-25):
    # baseline = (9 + 8 + 7 + 6) / 4 = 7.5. The 100 on the holiday is never looked at.
    values = [5, 6, 50, 50, 100, 7, 8, 9, 50, 50, 50, 50, 0]
    r = _run(_days(*values), day_types=types)
    np.testing.assert_array_equal(r.baseline[0], [7.5] * S)
    assert int(r.used_days[0, 0]) == _bits(5, 6, 7, 11)  # 05-02, 05-01, 04-30, 04-26
    assert int(r.dropped_low[0, 0]) == _bits(12)  # 04-25


def test_event_day_is_skipped_and_an_older_day_collected() -> None:
    # Days 0..5 = 4, 10, 20, 10, 10, 10; day 2 was itself a DR event day and is skipped.
    # The 5 most recent non-event days are 5, 4, 3, 1, 0 with 10, 10, 10, 10, 4;
    # keep 4 → drop 4 → baseline 10.0 (with day 2 it would have been (20+10+10+10)/4 = 12.5).
    events = np.zeros((1, 7), dtype=bool)
    events[0, 2] = True
    r = _run(_days(4, 10, 20, 10, 10, 10, 0), events=events)
    np.testing.assert_array_equal(r.baseline[0], [10.0] * S)
    assert int(r.skipped_event[0, 0]) == _bits(4)
    assert int(r.used_days[0, 0]) == _bits(1, 2, 3, 5)
    assert int(r.dropped_low[0, 0]) == _bits(6)


def test_low_usage_day_is_skipped() -> None:
    # Six candidate days: 8, 10, 10, 1, 10, 10. Average over all candidates = 49 / 6 = 8.1667;
    # 25 % of it = 2.0417, so the day with 1 is skipped. The 5 most recent others are
    # 10, 10, 10, 10, 8 (days 5, 4, 2, 1, 0): keep 4 → baseline 10.0.
    r = _run(_days(8, 10, 10, 1, 10, 10, 0))
    np.testing.assert_array_equal(r.baseline[0], [10.0] * S)
    assert int(r.skipped_low_usage[0, 0]) == _bits(3)
    assert int(r.dropped_low[0, 0]) == _bits(6)
    # Without the rule, day 3 is collected (5 most recent: 10, 10, 1, 10, 10) and dropped:
    # baseline still 10, but day 0 is no longer collected at all.
    r2 = _run(
        _days(8, 10, 10, 1, 10, 10, 0),
        params=BaselineParams(S, adjustment="none", low_usage_fraction=None),
    )
    assert int(r2.dropped_low[0, 0]) == _bits(3)
    assert int(r2.skipped_low_usage[0, 0]) == 0


def test_missing_value_disqualifies_the_day() -> None:
    # Days 0..5 = 6, 8, 12, 12, 12, 12 with one NaN in day 4 (outside the event window).
    # Candidates without day 4: 12, 12, 12, 8, 6 (days 5, 3, 2, 1, 0) → drop 6 → (12*3+8)/4 = 11.
    loads = _days(6, 8, 12, 12, 12, 12, 0)
    loads[0, 4, 0] = np.nan
    r = _run(loads)
    np.testing.assert_array_equal(r.baseline[0], [11.0] * S)
    assert int(r.skipped_missing[0, 0]) == _bits(2)
    assert int(r.used_days[0, 0]) == _bits(1, 3, 4, 5)


def test_same_day_adjustment_changes_the_answer() -> None:
    # Unadjusted baseline 13.0 as in the tie example. Adjustment window (-12 h, -6 h) before the
    # event start at slot 2 = slot [0, 1). The event day's actual in slot 0 is 15.
    loads = _days(10, 12, 10, 14, 16, 0)
    loads[0, 5, 0] = 15.0
    # Additive: shift = 15 - 13 = +2 → 15.0 in every slot.
    add = BaselineParams(S, adjustment="additive", adjustment_window_hours=(-12, -6))
    r = _run(loads, params=add)
    np.testing.assert_array_equal(r.baseline[0], [15.0] * S)
    np.testing.assert_array_equal(r.adjustment[0], [2.0] * S)
    # Multiplicative: factor 15 / 13.
    mul = BaselineParams(S, adjustment="multiplicative", adjustment_window_hours=(-12, -6))
    np.testing.assert_allclose(_run(loads, params=mul).baseline[0], [15.0] * S)
    # Clamped to ±10 %: factor 15/13 = 1.1538 → 1.1 → 14.3; additive shift capped at +1.3.
    for kind in ("multiplicative", "additive"):
        p = BaselineParams(
            S, adjustment=kind, adjustment_window_hours=(-12, -6), adjustment_clamp=(0.9, 1.1)
        )
        np.testing.assert_allclose(_run(loads, params=p).baseline[0], [14.3] * S)


def test_rolling_adjustment_uses_each_slots_own_window() -> None:
    # 4 slots; rolling window (-12 h, -6 h) = slots [s-2, s-1); High 4 of 5 with min_days=1 so
    # that day 4 has a baseline of its own. Event day 5: unadjusted 13 in all slots; actuals
    # slot0 = 13, slot1 = 26. Factors, clamped to [0.8, 1.2]:
    # s=0, 1: the window is before midnight → slots 2 and 3 of the latest weekday (day 4):
    #   actual 16 over day 4's own unadjusted baseline mean(10, 12, 10, 14) = 11.5 → 1.39 → 1.2;
    # s=2: 13/13 = 1.0; s=3: 26/13 → 1.2.
    loads = _days(10, 12, 10, 14, 16, 0)
    loads[0, 5, :2] = [13.0, 26.0]
    p = BaselineParams(
        S,
        rules=(DayTypeRule(5, 4, min_days=1),),
        adjustment="multiplicative",
        adjustment_timing="rolling",
        adjustment_window_hours=(-12, -6),
        adjustment_clamp=(0.8, 1.2),
    )
    r = _run(loads, params=p)
    np.testing.assert_allclose(r.adjustment[0], [1.2, 1.2, 1.0, 1.2])
    np.testing.assert_allclose(r.baseline[0], [15.6, 15.6, 13.0, 15.6])


def test_fixed_window_before_midnight_comes_from_the_previous_day() -> None:
    # Event at slot 0 (00:00-06:00); additive window (-12 h, -6 h) = slot 2 of the previous
    # day. Days 0..5 hold 10, 12, 10, 14, 16, 18 (all slots); the event is day 6.
    # Kept days (High 4 of 5 of days 1..5) = 5, 4, 3, 1 → unadjusted (18+16+14+12)/4 = 15.
    # Window baseline: slot 2 of the day before each kept day = days 4, 3, 2, 0 →
    # (16+14+10+10)/4 = 12.5; window actual: slot 2 of day 5 = 18 → shift +5.5 → 20.5.
    loads = _days(10, 12, 10, 14, 16, 18, 0)
    p = BaselineParams(S, adjustment="additive", adjustment_window_hours=(-12, -6))
    r = compute_baseline(loads, np.zeros(7, np.int8), np.zeros((1, 7), bool), EventSpec(6, 0, 1), p)
    assert r.status[0] == STATUS_OK
    np.testing.assert_array_equal(r.baseline[0], [20.5] * S)
    # A missing value in that window on the previous day: a failure with its reason.
    loads[0, 5, 2] = np.nan
    r = compute_baseline(loads, np.zeros(7, np.int8), np.zeros((1, 7), bool), EventSpec(6, 0, 1), p)
    assert r.status[0] == STATUS_ADJUSTMENT_DATA_MISSING


def test_weekend_high_2_of_3() -> None:
    # Day types: W W N N W W W W W N N W W N(event). The non-working days before the event
    # are 2, 3, 9, 10 with 30, 10, 20, 40 (average 25; 25 % = 6.25, none is low). Collect the
    # 3 most recent: 10, 9, 3 (40, 20, 10), keep the highest 2: 40 and 20 → baseline 30.0.
    # Day 2 (30) is too old to be collected.
    types = np.array([0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1], dtype=np.int8)
    values = [1, 1, 30, 10, 1, 1, 1, 1, 1, 20, 40, 1, 1, 0]
    r = _run(_days(*values), day_types=types)
    np.testing.assert_array_equal(r.baseline[0], [30.0] * S)
    assert int(r.used_days[0, 0]) == _bits(3, 4)
    assert int(r.dropped_low[0, 0]) == _bits(10)


def test_too_few_days_is_a_status_not_an_exception() -> None:
    # Resource 0 has 5 good weekdays; resource 1 has only 4 (one day missing) → failure,
    # NaN baseline, while resource 0 is unaffected: (12+10+14+16)/4 = 13.
    loads = np.concatenate([_days(10, 12, 10, 14, 16, 0), _days(10, 12, 10, 14, 16, 0)])
    loads[1, 2, 3] = np.nan
    r = _run(loads)
    assert list(r.status) == [STATUS_OK, STATUS_TOO_FEW_DAYS]
    np.testing.assert_array_equal(r.baseline[0], [13.0] * S)
    assert np.isnan(r.baseline[1]).all()
    # min_days lets it through: High 4 of the 4 found = (10+12+14+16)/4 = 13.0.
    p = BaselineParams(S, adjustment="none", rules=(DayTypeRule(5, 4, min_days=4),))
    r2 = _run(loads, params=p)
    assert list(r2.status) == [STATUS_OK, STATUS_OK]
    np.testing.assert_array_equal(r2.baseline[1], [13.0] * S)


def test_missing_actual_in_the_adjustment_window_is_reported() -> None:
    loads = _days(10, 12, 10, 14, 16, 0)
    loads[0, 5, 0] = np.nan
    p = BaselineParams(S, adjustment="additive", adjustment_window_hours=(-12, -6))
    r = _run(loads, params=p)
    assert r.status[0] == STATUS_ADJUSTMENT_DATA_MISSING
    assert np.isnan(r.baseline[0]).all()


def test_lookback_limits_the_candidates() -> None:
    # lookback 5 days: only days 1..5 are candidates; day 0 (value 100) is out of reach.
    # 5 days 10, 12, 10, 14, 16 → 13.0 as before.
    p = BaselineParams(S, adjustment="none", lookback_days=5)
    r = _run(_days(100, 10, 12, 10, 14, 16, 0), params=p)
    np.testing.assert_array_equal(r.baseline[0], [13.0] * S)


def test_caiso_10_of_10() -> None:
    # Collect 10 keep 10 is a plain mean: days 1..10 → mean(1..10) = 5.5 (day 0 is the 11th).
    p = BaselineParams(S, adjustment="none", rules=(DayTypeRule(10, 10),), low_usage_fraction=None)
    r = _run(_days(100, *range(1, 11), 0), params=p)
    np.testing.assert_array_equal(r.baseline[0], [5.5] * S)


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        _run(_days(1, 2, 3)[:, :, :3])
    assert err.value.field == "loads"
    with pytest.raises(ValidationError) as err:
        BaselineParams(rules=(DayTypeRule(3, 4),))
    assert err.value.field == "keep"
    with pytest.raises(ValidationError) as err:
        _run(
            _days(10, 12, 10, 14, 16, 0),
            params=BaselineParams(S, adjustment_window_hours=(-144, -6)),
        )
    assert err.value.field == "adjustment_window_hours"


def _settle(actual: np.ndarray, history: np.ndarray | None = None, **kw):
    """Settle slots [2, 4) of a last day holding ``actual`` after five days of 10 kWh per slot
    (baseline 10 without adjustment); ``history`` replaces the five days."""
    r = actual.shape[0]
    hist = np.full((r, 5, S), 10.0) if history is None else history
    loads = np.concatenate([hist, actual[:, None, :]], axis=1)
    base = _run(loads)
    return base, settle(base, loads[:, 5], EventSpec(5, *EVENT_WINDOW), **kw)


def test_settlement_truncates_floors_and_groups() -> None:
    # Three resources, event window slots [2, 4). Baseline 10 in every slot.
    # r0: actual 8.3, 8.081 → 1.7 + 1.919 = 3.619 → truncated 3.61
    # r1: actual 11, 10.5 → -1.5 → 0
    # r2: actual 9.995, 9.995 → 0.01 → 0.01
    actual = np.array([[0, 0, 8.3, 8.081], [0, 0, 11, 10.5], [0, 0, 9.995, 9.995]])
    _, res = _settle(
        actual,
        balancing_group=np.array([0, 1, 0]),
        contractor=np.array([0, 0, 0]),
        generation_sold=np.array([1.0, 2.0, 3.0]),
    )
    np.testing.assert_allclose(res.event_total_raw, [3.619, -1.5, 0.01])
    np.testing.assert_array_equal(res.settled, [361, 0, 1])
    np.testing.assert_array_equal(res.event_total, [3.61, 0.0, 0.01])
    assert res.by_balancing_group is not None and res.by_contractor is not None
    np.testing.assert_array_equal(res.by_balancing_group.suppressed_units, [362, 0])
    np.testing.assert_allclose(res.by_balancing_group.generation_sold, [4.0, 2.0])
    np.testing.assert_array_equal(res.by_contractor.suppressed_units, [362])
    np.testing.assert_array_equal(res.by_contractor.n_resources, [3])


def test_failed_resources_count_as_zero_and_are_counted() -> None:
    history = np.full((2, 5, S), 10.0)
    history[1, 2, 0] = np.nan  # resource 1: only 4 complete days → too few
    _, res = _settle(np.full((2, S), 9.0), history, contractor=np.array([0, 0]))
    np.testing.assert_array_equal(res.event_total, [2.0, 0.0])
    assert list(res.status) == [STATUS_OK, STATUS_TOO_FEW_DAYS]
    assert res.by_contractor is not None
    np.testing.assert_array_equal(res.by_contractor.n_failed, [1])


def test_missing_actual_in_the_event_window_is_a_failure_not_zero() -> None:
    # The baseline is fine (status OK from the kernel); the event day lacks slot 3's value.
    actual = np.array([[0, 0, 8.0, np.nan], [0, 0, 8.0, 8.0]])
    base, res = _settle(actual, contractor=np.array([0, 0]))
    assert list(base.status) == [STATUS_OK, STATUS_OK]
    assert list(res.status) == [STATUS_EVENT_DATA_MISSING, STATUS_OK]
    np.testing.assert_array_equal(res.settled, [0, 400])
    assert res.by_contractor is not None
    np.testing.assert_array_equal(res.by_contractor.n_failed, [1])


def test_rounding_modes_are_exact() -> None:
    # Day totals 1.239, 0.29, -0.5, 2.345 kWh (baseline 10, two slots).
    totals = [1.239, 0.29, -0.5, 2.345]
    actual = np.array([[0, 0, 10.0, 10.0 - t] for t in totals])
    _, trunc = _settle(actual)
    np.testing.assert_array_equal(trunc.settled, [123, 29, 0, 234])
    _, half_up = _settle(actual, rounding=Rounding(mode="half_up", non_positive_is_zero=False))
    np.testing.assert_array_equal(half_up.settled, [124, 29, -50, 235])


def test_baseline_rounded_per_slot_half_to_even_stays_exact() -> None:
    # Days 10, 11, 12, 13, 14: drop 10, mean of the others 12.5 → 0 decimals, half to even: 12.
    # Settled against an actual 11.24 in both window slots: (12 - 11.24) * 2 = 1.52.
    loads = _days(10, 11, 12, 13, 14, 11.24)
    p = BaselineParams(S, adjustment="none", baseline_decimals=0)
    r = _run(loads, params=p)
    np.testing.assert_array_equal(r.baseline[0], [12.0] * S)
    st = settle(r, loads[:, 5], EventSpec(5, *EVENT_WINDOW))
    assert int(st.settled[0]) == 152
    exact = settle(r, loads[:, 5], EventSpec(5, *EVENT_WINDOW), rounding=Rounding(mode="none"))
    assert int(exact.settled[0]) == 152
    with pytest.raises(ValidationError, match="exact at 1 decimals"):
        settle(r, loads[:, 5], EventSpec(5, *EVENT_WINDOW), rounding=Rounding(1, "none"))

"""Hypothesis properties of the baseline kernel (integer-valued loads keep the arithmetic exact)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jointuse.negawatt.kernel import STATUS_OK, BaselineParams, EventSpec, compute_baseline
from jointuse.negawatt.settlement import settle

S = 8  # 3-hour slots; the default window (-4 h, -1 h) is not whole here, so use (-6 h, -3 h)
EVENT = EventSpec(day=11, start_slot=5, end_slot=7)
TYPES = np.array([0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0], dtype=np.int8)
ADDITIVE = BaselineParams(S, adjustment="additive", adjustment_window_hours=(-6, -3))

loads_strategy = arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.just(12), st.just(S)),
    elements=st.integers(0, 50).map(float),
)


@settings(max_examples=40, deadline=None)
@given(c=st.integers(0, 1000).map(float), r=st.integers(1, 5))
def test_constant_load_gives_constant_baseline_and_no_suppression(c: float, r: int) -> None:
    loads = np.full((r, 12, S), c)
    res = compute_baseline(loads, TYPES, np.zeros((1, 12), bool), EVENT, ADDITIVE)
    assert (res.status == STATUS_OK).all()
    np.testing.assert_array_equal(res.baseline, np.full((r, S), c))
    st_ = settle(res, loads[:, EVENT.day], EVENT)
    np.testing.assert_array_equal(st_.event_total, np.zeros(r))


@settings(max_examples=40, deadline=None)
@given(loads=loads_strategy, c=st.integers(-20, 100).map(float))
def test_adding_c_adds_c_to_the_additive_baseline(loads: np.ndarray, c: float) -> None:
    # The low-usage rule compares against a fraction of a mean, which a shift does change;
    # it is switched off here so that the selection itself is shift-invariant.
    p = BaselineParams(
        S, adjustment="additive", adjustment_window_hours=(-6, -3), low_usage_fraction=None
    )
    ev = np.zeros((1, 12), bool)
    a = compute_baseline(loads, TYPES, ev, EVENT, p)
    b = compute_baseline(loads + c, TYPES, ev, EVENT, p)
    np.testing.assert_array_equal(a.used_days, b.used_days)
    np.testing.assert_allclose(b.baseline, a.baseline + c, rtol=0, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(loads=loads_strategy, data=st.data())
def test_results_do_not_depend_on_resource_order(loads: np.ndarray, data: st.DataObject) -> None:
    r = loads.shape[0]
    perm = np.array(data.draw(st.permutations(list(range(r)))))
    events = data.draw(arrays(np.bool_, (r, 12)))
    if data.draw(st.booleans()):
        loads = loads.copy()
        loads[0, 3, 2] = np.nan
    a = compute_baseline(loads, TYPES, events, EVENT, ADDITIVE)
    b = compute_baseline(loads[perm], TYPES, events[perm], EVENT, ADDITIVE)
    np.testing.assert_array_equal(a.baseline[perm], b.baseline)
    np.testing.assert_array_equal(a.status[perm], b.status)
    np.testing.assert_array_equal(a.used_days[perm], b.used_days)
    np.testing.assert_array_equal(a.skipped_missing[perm], b.skipped_missing)

"""The kernel and the settlement against an independent exact implementation, on random cases.

:func:`reference` below is written from the baseline rules alone (METI's ERAB guideline), one
resource at a time, in
:class:`fractions.Fraction` kWh (no units, no numpy, no shared code with the kernel): candidate
days, exclusions, the low-usage rule, High ``keep`` of ``collect`` with ties dropping the day
farthest from the event, the same-day adjustment over a fixed window (taken from the previous
day for early-morning events), clamps, and the settlement per event day (truncate to 0.01 kWh,
a non-positive day total counts as 0). The random cases are built to hit what went wrong
before: data at 0.1 kWh (many ties at the cut), loads of 300 and 5,000 kWh per slot (binary
sums off by a hair), missing values in the event window and in the adjustment window, and
early-morning events.

Every case must agree **exactly**: status, the set of kept days and the settled amount.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from fractions import Fraction

import numpy as np
import pytest

from jointuse.core.calendar import baseline_day_types
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

S = 48
D = 40  # 38 days of history, the day before the event, the event day


def reference(
    loads: list[list[Fraction | None]],
    types: list[int],
    events: list[bool],
    e: int,
    ws: int,
    we: int,
    p: BaselineParams,
) -> tuple[int, set[int], int]:
    """(status, kept days, settled amount in 0.01 kWh) of one resource, exactly."""
    rule = p.rules[types[e]]
    first = max(0, e - p.lookback_days)
    cands = [d for d in range(e - 1, first - 1, -1) if types[d] == types[e]]
    window = range(ws, we)

    def wavg(d: int) -> Fraction:
        return sum((loads[d][s] for s in window), Fraction(0)) / len(window)  # type: ignore[misc]

    qualify = [
        d
        for d in cands
        if not (p.exclude_event_days and events[d]) and all(v is not None for v in loads[d])
    ]
    if p.low_usage_fraction is not None:
        pool = qualify if p.low_usage_basis == "candidates" else qualify[: rule.collect]
        if pool:
            mean = sum((wavg(d) for d in pool), Fraction(0)) / len(pool)
            frac = Fraction(str(p.low_usage_fraction))
            qualify = [d for d in qualify if not wavg(d) < frac * mean]
    collected = qualify[: rule.collect]
    if len(collected) < rule.required:
        return STATUS_TOO_FEW_DAYS, set(), 0
    ranked = sorted(collected, key=lambda d: (-wavg(d), e - d))  # ties: the nearer day first
    kept = ranked[: rule.keep]

    def value(day: int, offset: int) -> Fraction | None:
        d, s = day + offset // S, offset % S
        return loads[d][s] if d >= 0 else None

    def base(offset: int) -> Fraction | None:
        vals = [value(d, offset) for d in kept]
        if any(v is None for v in vals):
            return None
        return sum(vals, Fraction(0)) / len(kept)  # type: ignore[arg-type]

    unadj = [base(s) for s in range(S)]
    shift, factor = Fraction(0), Fraction(1)
    if p.adjustment != "none":
        a = round(p.adjustment_window_hours[0] * S / 24)
        b = round(p.adjustment_window_hours[1] * S / 24)
        offsets = range(ws + a, ws + b)
        acts = [value(e, o) for o in offsets]
        bases = [base(o) for o in offsets]
        if any(v is None for v in acts + bases):
            return STATUS_ADJUSTMENT_DATA_MISSING, set(kept), 0
        act_sum = sum(acts, Fraction(0))  # type: ignore[arg-type]
        base_sum = sum(bases, Fraction(0))  # type: ignore[arg-type]
        lo, hi = (Fraction(str(c)) for c in (p.adjustment_clamp or (0, 0)))
        if p.adjustment == "additive":
            shift = (act_sum - base_sum) / len(offsets)
            if p.adjustment_clamp is not None:
                mean = base_sum / len(offsets)
                shift = min(max(shift, (lo - 1) * mean), (hi - 1) * mean)
        else:
            factor = Fraction(1) if base_sum == 0 else act_sum / base_sum
            if p.adjustment_clamp is not None:
                factor = min(max(factor, lo), hi)
    if any(loads[e][s] is None for s in window):
        return STATUS_EVENT_DATA_MISSING, set(kept), 0
    total = sum(
        (unadj[s] * factor + shift - loads[e][s] for s in window),  # type: ignore[operator]
        Fraction(0),
    )
    cents = math.trunc(total * 100)
    return STATUS_OK, set(kept), max(cents, 0)


def _cases(seed: int, n: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, dt.date]:
    rng = np.random.default_rng(seed)
    start = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, 700)))
    types = baseline_day_types(start + dt.timedelta(days=i) for i in range(D))
    base = rng.uniform(0.2, 1.0, (n, 1, 1)) * scale
    shape = 1.0 + 0.5 * np.sin(np.linspace(0, 2 * np.pi, S))[None, None, :]
    loads = base * shape * rng.uniform(0.7, 1.3, (n, D, 1))
    loads = np.round(loads, 1)  # 0.1 kWh resolution: many days tie at the cut
    same = rng.random((n, D)) < 0.3  # copy another day: exact ties in the window
    rows, days = np.nonzero(same[:, 1:])
    loads[rows, days + 1] = loads[rows, days]
    holes = rng.random((n, D)) < 0.04
    rows, days = np.nonzero(holes)
    loads[rows, days, rng.integers(0, S, rows.size)] = np.nan
    events = rng.random((n, D)) < 0.05
    return loads, types, events, start


PARAMS = {
    "standard": BaselineParams(),
    "additive-clamped": BaselineParams(adjustment_clamp=(0.9, 1.1)),
    "multiplicative-clamped": BaselineParams(
        adjustment="multiplicative", adjustment_clamp=(0.8, 1.2)
    ),
    "recent-basis-no-adjustment": BaselineParams(adjustment="none", low_usage_basis="recent"),
    "high-3-of-5-min-4": BaselineParams(
        rules=(DayTypeRule(5, 3, min_days=4), DayTypeRule(3, 2)), low_usage_fraction=0.5
    ),
}
SCALES = {"household": 5.0, "300-kWh": 300.0, "5000-kWh": 5000.0}


@pytest.mark.parametrize("scale_name", list(SCALES))
@pytest.mark.parametrize("name", list(PARAMS))
def test_kernel_equals_the_exact_reference(name: str, scale_name: str) -> None:
    p = PARAMS[name]
    n = 150
    loads, types, events, _ = _cases(
        zlib.crc32(f"{name}/{scale_name}".encode()), n, SCALES[scale_name]
    )
    rng = np.random.default_rng(len(name) * 7 + len(scale_name))
    e = D - 1
    agree = 0
    seen: dict[int, int] = {}
    settled_positive = 0
    exact = [
        [[None if np.isnan(v) else Fraction(repr(float(v))) for v in day] for day in loads[r]]
        for r in range(n)
    ]
    for start in (int(rng.integers(0, 6)), int(rng.integers(8, 30)), int(rng.integers(30, 44))):
        end = start + int(rng.integers(1, 5))
        spec = EventSpec(e, start, end)
        # Every tenth resource misses one value of the event window.
        case = loads.copy()
        case[::10, e, start] = np.nan
        got = compute_baseline(case, types, events, spec, p)
        st = settle(got, case[:, e], spec, rounding=Rounding())
        for r in range(n):
            fr = exact[r]
            if r % 10 == 0:
                fr = [*fr[:e], [None if s == start else v for s, v in enumerate(fr[e])]]
            status, kept, cents = reference(fr, list(types), list(events[r]), e, start, end, p)
            used = {e - 1 - i for i in range(64) if int(got.used_days[r, 0]) >> i & 1}
            assert int(st.status[r]) == status, (name, scale_name, r, start)
            if status in (STATUS_OK, STATUS_ADJUSTMENT_DATA_MISSING, STATUS_EVENT_DATA_MISSING):
                assert used == kept, (name, scale_name, r, start)
            assert int(st.settled[r]) == cents, (name, scale_name, r, start, st.settled[r], cents)
            agree += 1
            seen[status] = seen.get(status, 0) + 1
            settled_positive += cents > 0
    assert agree == 3 * n
    # The cases exercise what they are meant to: settled amounts and failures.
    assert seen.get(STATUS_OK, 0) > n and settled_positive > n // 4, seen
    assert seen.get(STATUS_EVENT_DATA_MISSING, 0) + seen.get(STATUS_TOO_FEW_DAYS, 0) > 0, seen

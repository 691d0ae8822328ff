"""Same-day adjustment (当日調整) of the baseline kernel, in exact arithmetic.

Input: per resource the kept days' integer sums per slot (``usum``) and their count ``k`` (from
:func:`jointuse.negawatt.kernel_scan.scan`); output: the adjusted baseline per slot as an exact
ratio ``num / den`` in data units, with float64 views for display.

Two paths give the same definitions:

* **per day** (a per-day exclusion mask, ``fixed`` timing or no adjustment — the standard case):
  one window per resource, vectorised integer arithmetic. Additive: ``baseline_s = usum_s / k
  + (A_w − U_w / k) / w`` = ``(w·usum_s + k·A_w − U_w) / (k·w)``; multiplicative:
  ``usum_s / k × k·A_w / U_w``; a clamp compares exact ratios (its bounds are read as the
  decimals they were written as).
* **per slot** (a per-slot mask or ``rolling`` timing): a window per slot, computed with
  :class:`fractions.Fraction` resource by resource (these options serve reference predictors
  and small runs, not the bulk settlement).

A window slot before midnight comes from the previous day(s) (``fixed``) or from the latest day
of the same type on which that slot was recorded (``rolling``), see :mod:`~.kernel`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from jointuse.negawatt.exact import add, as_fraction, bound, div_round, mul, to_units
from jointuse.negawatt.kernel_scan import POOL_LOCK, finish

if TYPE_CHECKING:
    from jointuse.negawatt.kernel import BaselineParams, BaselineResult, EventSpec

F64 = npt.NDArray[np.float64]
STATUS_OK, STATUS_TOO_FEW_DAYS, STATUS_ADJUSTMENT_DATA_MISSING = 0, 1, 2


@dataclass(frozen=True)
class Adjusted:
    baseline: F64
    unadjusted: F64
    adjustment: F64
    status: npt.NDArray[np.int8]
    num: npt.NDArray[Any]
    den: npt.NDArray[Any]


def _float(a: Any) -> F64:
    return np.asarray(a, dtype=np.float64)


def _status(bad_window: Any, fail_window: Any) -> npt.NDArray[np.int8]:
    status = np.full(bad_window.shape[0], STATUS_OK, dtype=np.int8)
    status[bad_window.any(axis=1)] = STATUS_ADJUSTMENT_DATA_MISSING
    status[fail_window.any(axis=1)] = STATUS_TOO_FEW_DAYS
    return status


def adjust(
    loads: F64,
    day_types: Any,
    ev: Any,
    event: EventSpec,
    p: BaselineParams,
    offs: Any,
    usum: Any,
    n_used: Any,
    fail: Any,
    upre: Any,
    pre_bad: Any,
    compute: Callable[..., BaselineResult],
) -> Adjusted:
    """The adjusted baseline (module docstring); ``offs`` are a fixed window's slot offsets."""
    if n_used.shape[1] == 1 and (p.adjustment == "none" or p.adjustment_timing == "fixed"):
        out = _per_day(loads, event, p, offs, usum, n_used[:, 0], fail[:, 0], upre, pre_bad)
    else:
        out = _per_slot(loads, day_types, ev, event, p, offs, usum, n_used, fail, compute)
    if p.baseline_decimals is not None:
        out = _round_baseline(out, p.baseline_decimals, p.resolution)
    return out


def _per_day(
    loads: F64,
    event: EventSpec,
    p: BaselineParams,
    offs: Any,
    usum: Any,
    k_raw: Any,
    fail_raw: Any,
    upre: Any,
    pre_bad: Any,
) -> Adjusted:
    r, _, s = loads.shape
    scale = 10.0**p.resolution
    failr = fail_raw | (k_raw == 0)
    k = np.where(failr, 1, k_raw).astype(np.int64)
    bad = np.zeros(r, dtype=bool)
    # baseline_s = (usum_s * mult + shift) / den; the adjustment shown as ``shown`` per resource
    if p.adjustment == "none":
        mult: Any = np.ones(r, np.int64)
        shift: Any = np.zeros(r, np.int64)
        den: Any = k
        shown: Any = np.zeros(r)
    else:
        window = loads[:, event.day + offs // s, offs % s]
        a_units, a_missing = to_units(window, p.resolution, where="adjustment window ")
        bad = a_missing.any(axis=1) | pre_bad
        a_w = a_units.sum(axis=1)
        u_w = usum[:, offs[offs >= 0]].sum(axis=1) + upre.sum(axis=1)
        w = int(offs.size)
        if p.adjustment == "additive":
            shift = add(mul(k, a_w), -u_w)
            width, den = w, mul(k, w)
            if p.adjustment_clamp is not None:
                lo, hi = (as_fraction(c) for c in p.adjustment_clamp)
                q = math.lcm(lo.denominator, hi.denominator)
                lo_b = mul(u_w, (lo.numerator * (q // lo.denominator) - q))
                hi_b = mul(u_w, (hi.numerator * (q // hi.denominator) - q))
                shift = np.minimum(np.maximum(mul(shift, q), lo_b), hi_b)
                width, den = w * q, mul(den, q)
            mult = np.full(r, width, np.int64)
            shown = _float(shift) / _float(den) / scale
        else:
            zero = u_w == 0
            f_num = np.where(zero, 1, mul(k, a_w))
            f_den = np.where(zero, 1, u_w)
            if p.adjustment_clamp is not None:
                for limit, side in zip(
                    (as_fraction(c) for c in p.adjustment_clamp), (-1, 1), strict=True
                ):
                    lhs = mul(f_num, limit.denominator)
                    rhs = mul(f_den, limit.numerator)
                    beyond = lhs < rhs if side < 0 else lhs > rhs
                    f_num = np.where(beyond, limit.numerator, f_num)
                    f_den = np.where(beyond, limit.denominator, f_den)
            neg = f_den < 0
            f_num, f_den = np.where(neg, -f_num, f_num), np.where(neg, -f_den, f_den)
            mult, shift, den = f_num, np.zeros(r, np.int64), mul(k, f_den)
            shown = _float(f_num) / _float(f_den)
    invalid = failr | bad
    ints = all(np.asarray(a).dtype == np.int64 for a in (mult, shift, den))
    u_max = max(int(usum.max(initial=0)), -int(usum.min(initial=0)))
    if ints and u_max * max(int(np.abs(mult).max(initial=0)), 1) + bound(shift) < 2**62:
        with POOL_LOCK:
            num, baseline, unadj = finish(usum, k, mult, shift, den, invalid, scale)
    else:  # beyond int64: Python integers
        num = add(mul(usum, np.asarray(mult)[:, None]), np.asarray(shift)[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            baseline = _float(num) / _float(den)[:, None] / scale
            unadj = usum / k[:, None] / scale
        baseline[invalid] = np.nan
    # One adjustment per resource for the whole day: a read-only (R, S) view of it.
    shown_s = np.broadcast_to(np.where(invalid, np.nan, _float(shown))[:, None], (r, s))
    unadj[failr] = np.nan
    status = _status(bad[:, None], failr[:, None])
    return Adjusted(baseline, unadj, shown_s, status, num, np.asarray(den)[:, None])


def _per_slot(
    loads: F64,
    day_types: Any,
    ev: Any,
    event: EventSpec,
    p: BaselineParams,
    offs: Any,
    usum: Any,
    n_used: Any,
    fail: Any,
    compute: Callable[..., BaselineResult],
) -> Adjusted:
    from jointuse.negawatt.kernel import EventSpec, without_adjustment

    r, _, s = loads.shape
    scale = 10.0**p.resolution
    g_n = n_used.shape[1]

    def grp(slot: int) -> int:
        return slot if g_n > 1 else 0

    ub: list[list[Fraction | None]] = [
        [
            None
            if fail[i, grp(j)] or n_used[i, grp(j)] == 0
            else Fraction(int(usum[i, j]), int(n_used[i, grp(j)]))
            for j in range(s)
        ]
        for i in range(r)
    ]
    actual, missing = to_units(loads[:, event.day], p.resolution, where="event day ")
    earlier: dict[int, BaselineResult] = {}

    def previous(i: int, slot: int) -> tuple[int | None, Fraction | None]:
        """Actual and own unadjusted baseline of ``slot`` on the latest same-type day."""
        er = i if ev.shape[0] > 1 else 0
        for d in range(event.day - 1, -1, -1):
            if day_types[d] != day_types[event.day] or np.isnan(loads[i, d, slot]):
                continue
            if p.exclude_event_days and ev[er, d, grp(slot)]:
                continue
            if d not in earlier:
                earlier[d] = compute(
                    loads[:, : d + 1],
                    day_types[: d + 1],
                    ev[:, : d + 1],
                    EventSpec(d, event.start_slot, event.end_slot),
                    without_adjustment(p),
                )
            res = earlier[d]
            base = None
            if not np.isnan(res.unadjusted[i, slot]):
                den = res.exact_den[i, slot if res.exact_den.shape[1] > 1 else 0]
                base = Fraction(int(res.exact_num[i, slot]), int(den))
            units, _ = to_units(loads[i, d, slot : slot + 1], p.resolution)
            return int(units[0]), base
        return None, None

    a = b = 0
    if p.adjustment != "none":
        a = p.window_slots(p.adjustment_window_hours[0])
        b = p.window_slots(p.adjustment_window_hours[1])
    clamp = tuple(as_fraction(c) for c in p.adjustment_clamp) if p.adjustment_clamp else None
    num = np.empty((r, s), dtype=object)
    den = np.empty((r, s), dtype=object)
    shown = np.full((r, s), np.nan)
    bad = np.zeros((r, s), dtype=bool)
    for i in range(r):
        for j in range(s):
            base_j = ub[i][j]
            factor: Fraction | None = Fraction(1) if p.adjustment != "additive" else Fraction(0)
            if p.adjustment != "none":
                if p.adjustment_timing == "fixed":
                    window = [int(o) for o in offs]
                else:
                    window = list(range(j + a, min(j + b, s)))
                act_sum, base_sum = Fraction(0), Fraction(0)
                for o in window:
                    if o >= 0:
                        act = None if missing[i, o] else int(actual[i, o])
                        base = ub[i][o]
                    else:
                        act, base = previous(i, o % s)
                    if act is None or base is None:
                        factor = None
                        break
                    act_sum += act
                    base_sum += base
                if factor is not None and window:
                    factor = _factor(p.adjustment, act_sum, base_sum, len(window), clamp)
            if factor is None:
                bad[i, j] = True
            if base_j is None or factor is None:
                num[i, j], den[i, j] = 0, 1
                continue
            value = base_j * factor if p.adjustment == "multiplicative" else base_j + factor
            num[i, j], den[i, j] = value.numerator, value.denominator
            shown[i, j] = float(factor) / (scale if p.adjustment == "additive" else 1.0)
    n_col = np.array([[grp(j) for j in range(s)]])
    fail_s = np.take_along_axis(fail | (n_used == 0), np.broadcast_to(n_col, (r, s)), axis=1)
    unadj = np.array(
        [[np.nan if v is None else float(v) / scale for v in row] for row in ub]
    ).reshape(r, s)
    baseline = _float(num) / _float(den) / scale
    baseline[fail_s | bad] = np.nan
    if p.adjustment == "none":
        shown = np.zeros((r, s))
    w = slice(event.start_slot, event.end_slot)
    status = _status(bad[:, w], fail_s[:, w])
    return Adjusted(baseline, unadj, shown, status, num, den)


def _factor(
    kind: str, act: Fraction, base: Fraction, width: int, clamp: tuple[Fraction, ...] | None
) -> Fraction:
    if kind == "multiplicative":
        f = Fraction(1) if base == 0 else act / base
        return f if clamp is None else min(max(f, clamp[0]), clamp[1])
    shift = (act - base) / width
    if clamp is None:
        return shift
    mean = base / width
    return min(max(shift, (clamp[0] - 1) * mean), (clamp[1] - 1) * mean)


def _round_baseline(out: Adjusted, decimals: int, resolution: int) -> Adjusted:
    """The baseline per slot rounded half to even to ``decimals`` of kWh, still exact."""
    rounded = div_round(mul(out.num, 10**decimals), mul(out.den, 10**resolution), "half_even")
    if resolution >= decimals:
        num, den = mul(rounded, 10 ** (resolution - decimals)), np.ones_like(out.den)
    else:
        num, den = rounded, np.full_like(out.den, 10 ** (decimals - resolution))
    baseline = np.where(np.isnan(out.baseline), np.nan, _float(rounded) / 10.0**decimals)
    return Adjusted(baseline, out.unadjusted, out.adjustment, out.status, num, den)

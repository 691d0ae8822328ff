"""Negawatt baseline kernel (ネガワット取引のベースライン): pure numpy, no I/O, vectorised.

Arrays, not objects: ``loads`` is shaped ``(resources, days, slots)`` (float64 kWh per slot, NaN
for missing), days in chronological order. One call computes the baseline of one event for every
resource at once; nothing loops over resources (loops run over a handful of days at most).

The default :class:`BaselineParams` is Japan's standard *High 4 of 5* (weekday events) /
*High 2 of 3* (Saturday, Sunday, holiday events) with an additive same-day adjustment
(当日調整) over the three hours that end one hour before the event. Every rule is a parameter,
so the same kernel also computes e.g. CAISO's 10-of-10 with a multiplicative adjustment clamped
to ±20 %, or LBNL's predictor (10-day average, 96 slots, a multiplicative adjustment that rolls
with each predicted slot).

Selection, per resource (and per slot if the exclusion mask is per slot):

1. *candidates*: days before the event, within ``lookback_days``, of the event's day type;
2. skip days flagged as DR event days (``exclude_event_days``) and days with any missing value;
3. skip low-usage days: window average < ``low_usage_fraction`` × the average over all
   candidate days left after step 2 (``low_usage_basis="candidates"``) or over the
   ``collect`` most recent of them (``"recent"``). The guideline's exact denominator is
   *(unverified)*, hence the choice;
4. collect the ``collect`` most recent remaining days; fewer than ``min_days`` → status
   :data:`STATUS_TOO_FEW_DAYS` and a NaN baseline for that resource (never an exception);
5. keep the ``keep`` days with the highest window average; ties drop the day farthest from the
   event; the baseline of each slot is the mean of the kept days.

Reports are bitmasks over the 64 days before the event: bit ``i`` = day ``event.day - 1 - i``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from jointuse.core.errors import ValidationError

__all__ = [
    "STATUS_ADJUSTMENT_DATA_MISSING",
    "STATUS_OK",
    "STATUS_TOO_FEW_DAYS",
    "BaselineParams",
    "BaselineResult",
    "DayTypeRule",
    "EventSpec",
    "compute_baseline",
    "day_bits",
]

F64 = npt.NDArray[np.float64]
BoolA = npt.NDArray[np.bool_]
U64 = npt.NDArray[np.uint64]

STATUS_OK = 0
STATUS_TOO_FEW_DAYS = 1
STATUS_ADJUSTMENT_DATA_MISSING = 2

_MAX_REPORT_DAYS = 64


@dataclass(frozen=True)
class DayTypeRule:
    """How many days of one day type are collected and kept (High ``keep`` of ``collect``).

    ``min_days`` is the fewest collected days that still give a baseline (default: ``collect``,
    i.e. fewer than ``collect`` is a failure). With fewer than ``collect`` but at least
    ``min_days`` days, the ``keep`` highest of those are kept.
    """

    collect: int
    keep: int
    min_days: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.keep <= self.collect:
            raise ValidationError(
                f"keep={self.keep} must be between 1 and collect={self.collect}",
                field="keep",
                valid=f"1..{self.collect}",
            )
        if self.min_days is not None and not 1 <= self.min_days <= self.collect:
            raise ValidationError(
                f"min_days={self.min_days} must be between 1 and collect={self.collect}",
                field="min_days",
                valid=f"1..{self.collect} or None",
            )

    @property
    def required(self) -> int:
        return self.collect if self.min_days is None else self.min_days


@dataclass(frozen=True)
class BaselineParams:
    """Every rule of the baseline, defaulting to Japan's standard (METI ERAB guideline, 2020).

    ``rules[k]`` applies to day-type code ``k`` (see :mod:`jointuse.core.calendar`: 0 weekday,
    1 Saturday/Sunday/holiday). ``adjustment_window_hours`` is relative to the event start
    (``adjustment_timing="fixed"``) or to the start of each slot (``"rolling"``, LBNL style);
    ``(-4, -1)`` is the three hours ending one hour before. ``adjustment_clamp`` bounds the
    adjustment as a factor range ``(lo, hi)``: multiplicative factors are clipped to it, additive
    shifts to ``(lo - 1, hi - 1)`` × the baseline's mean over the window. ``baseline_decimals``
    rounds the final baseline per slot (half to even), ``None`` leaves it unrounded.
    """

    slots_per_day: int = 48
    lookback_days: int = 30
    rules: tuple[DayTypeRule, ...] = (DayTypeRule(5, 4), DayTypeRule(3, 2))
    exclude_event_days: bool = True
    low_usage_fraction: float | None = 0.25
    low_usage_basis: Literal["candidates", "recent"] = "candidates"
    adjustment: Literal["none", "additive", "multiplicative"] = "additive"
    adjustment_timing: Literal["fixed", "rolling"] = "fixed"
    adjustment_window_hours: tuple[float, float] = (-4.0, -1.0)
    adjustment_clamp: tuple[float, float] | None = None
    baseline_decimals: int | None = None

    def __post_init__(self) -> None:
        if self.slots_per_day <= 0 or 1440 % self.slots_per_day:
            raise ValidationError(
                f"slots_per_day={self.slots_per_day} does not divide a day into whole minutes",
                field="slots_per_day",
                valid="a divisor of 1440, e.g. 24, 48, 96",
            )
        if not 1 <= self.lookback_days <= _MAX_REPORT_DAYS:
            raise ValidationError(
                f"lookback_days={self.lookback_days} out of range",
                field="lookback_days",
                valid=f"1..{_MAX_REPORT_DAYS}",
            )
        if not self.rules:
            raise ValidationError("at least one day-type rule is needed", field="rules")
        start, end = self.adjustment_window_hours
        if not start < end:
            raise ValidationError(
                f"adjustment window start {start} h must be before its end {end} h",
                field="adjustment_window_hours",
                valid="(start, end) with start < end, e.g. (-4, -1)",
            )
        if self.adjustment_clamp is not None:
            lo, hi = self.adjustment_clamp
            if not 0 <= lo <= 1 <= hi:
                raise ValidationError(
                    f"adjustment_clamp={self.adjustment_clamp} must satisfy 0 <= lo <= 1 <= hi",
                    field="adjustment_clamp",
                    valid="e.g. (0.8, 1.2)",
                )
        if self.low_usage_fraction is not None and not 0 <= self.low_usage_fraction < 1:
            raise ValidationError(
                f"low_usage_fraction={self.low_usage_fraction} out of range",
                field="low_usage_fraction",
                valid="0 <= x < 1, or None to disable",
            )

    def window_slots(self, hours: float) -> int:
        """Whole slots in ``hours`` (the adjustment window must fall on slot boundaries)."""
        slots = hours * self.slots_per_day / 24
        if abs(slots - round(slots)) > 1e-9:
            raise ValidationError(
                f"{hours} h is not a whole number of slots",
                field="adjustment_window_hours",
                valid=f"multiples of {24 / self.slots_per_day} h",
            )
        return round(slots)


@dataclass(frozen=True)
class EventSpec:
    """One DR event: index into the ``days`` axis and 0-based slots ``[start_slot, end_slot)``."""

    day: int
    start_slot: int
    end_slot: int


@dataclass(frozen=True)
class BaselineResult:
    """Baselines of one event for ``R`` resources.

    ``baseline``/``unadjusted`` are ``(R, S)`` for the whole event day; ``adjustment`` is the
    factor (multiplicative) or shift (additive) applied per slot, ``(R, S)``. The day bitmasks are
    ``(R, G)`` with ``G`` = 1 for a per-day exclusion mask and ``G`` = S for a per-slot one.
    """

    baseline: F64
    unadjusted: F64
    adjustment: F64
    status: npt.NDArray[np.int8]
    used_days: U64
    skipped_event: U64
    skipped_missing: U64
    skipped_low_usage: U64
    dropped_low: U64
    n_used: npt.NDArray[np.int16]
    window_average: F64 = field(repr=False)


def day_bits(mask: BoolA, event_day: int, first_day: int) -> U64:
    """Pack a ``(R, n, G)`` day mask over days ``first_day..event_day-1`` into ``(R, G)`` bits."""
    n = mask.shape[1]
    # bit i = day (event_day - 1 - i); the mask's column j is day first_day + j.
    shifts = (event_day - 1 - (first_day + np.arange(n))).astype(np.uint64)
    weights = (np.uint64(1) << shifts)[None, :, None]
    packed: U64 = np.bitwise_or.reduce(np.where(mask, weights, np.uint64(0)), axis=1)
    return packed


def _validate(
    loads: F64,
    day_types: npt.NDArray[np.integer],
    event_mask: BoolA,
    event: EventSpec,
    p: BaselineParams,
) -> None:
    if loads.ndim != 3:
        raise ValidationError(
            f"loads must be 3-D (resources, days, slots), got shape {loads.shape}",
            field="loads",
            valid="(R, D, S)",
        )
    r, d, s = loads.shape
    if s != p.slots_per_day:
        raise ValidationError(
            f"loads have {s} slots per day but params say {p.slots_per_day}",
            field="loads",
            valid=f"(R, D, {p.slots_per_day})",
        )
    if day_types.shape != (d,):
        raise ValidationError(
            f"day_types shape {day_types.shape} does not match {d} days",
            field="day_types",
            valid=f"({d},)",
        )
    if (
        event_mask.ndim not in (2, 3)
        or event_mask.shape[1] != d
        or event_mask.shape[0] not in (1, r)
    ):
        raise ValidationError(
            f"event_mask shape {event_mask.shape} does not fit loads {loads.shape}",
            field="event_mask",
            valid=f"({r} or 1, {d}) or ({r} or 1, {d}, {s})",
        )
    if event_mask.ndim == 3 and event_mask.shape[2] != s:
        raise ValidationError(
            f"per-slot event_mask has {event_mask.shape[2]} slots, loads have {s}",
            field="event_mask",
            valid=f"(.., {d}, {s})",
        )
    if not 0 <= event.day < d:
        raise ValidationError(
            f"event day {event.day} outside the {d} days given",
            field="event.day",
            valid=f"0..{d - 1}",
        )
    if not 0 <= event.start_slot < event.end_slot <= s:
        raise ValidationError(
            f"event slots [{event.start_slot}, {event.end_slot}) invalid",
            field="event.start_slot",
            valid=f"0 <= start < end <= {s}",
        )
    code = int(day_types[event.day])
    if not 0 <= code < len(p.rules):
        raise ValidationError(
            f"event day type {code} has no rule", field="day_types", valid=f"0..{len(p.rules) - 1}"
        )


def _select(
    wavg: F64, missing: BoolA, same: BoolA, ev: BoolA, rule: DayTypeRule, p: BaselineParams
) -> tuple[BoolA, BoolA, BoolA, BoolA, BoolA]:
    """Day selection on ``(R, n, G)`` masks: (kept, skipped_event, skipped_low, dropped, fail)."""
    base = same[None, :, None] & ~missing[:, :, None]  # (R, n, 1)
    shape = np.broadcast_shapes(base.shape, ev.shape)
    if p.exclude_event_days:
        skipped_event = base & ev
        qualify = base & ~ev
    else:
        skipped_event = np.zeros(shape, dtype=bool)
        qualify = np.broadcast_to(base, shape).copy()
    w3 = wavg[:, :, None]
    skipped_low = np.zeros_like(qualify)
    if p.low_usage_fraction is not None:
        pool = qualify
        if p.low_usage_basis == "recent":
            pool = qualify & (_rank_from_recent(qualify) <= rule.collect)
        count = pool.sum(axis=1, keepdims=True)
        total = np.where(pool, w3, 0.0).sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            denom = total / count
        skipped_low = qualify & (w3 < p.low_usage_fraction * denom)
        qualify &= ~skipped_low
    collected = qualify & (_rank_from_recent(qualify) <= rule.collect)
    n_col = collected.sum(axis=1)  # (R, G)
    fail = n_col < rule.required
    n_drop = np.maximum(n_col - rule.keep, 0)
    kept = collected.copy()
    key = np.where(kept, w3, np.inf)
    rows = np.arange(kept.shape[0])[:, None]
    cols = np.arange(kept.shape[2])[None, :]
    for i in range(rule.collect - rule.keep):
        # argmin picks the first (oldest, i.e. farthest) of tied lowest days.
        idx = np.argmin(key, axis=1)  # (R, G)
        act = n_drop > i
        kept[rows, idx, cols] &= ~act
        key[rows, idx, cols] = np.where(act, np.inf, key[rows, idx, cols])
    dropped = collected & ~kept
    return kept, skipped_event, skipped_low, dropped, fail


def _rank_from_recent(mask: BoolA) -> npt.NDArray[np.intp]:
    """1 for the most recent True day, 2 for the next, ... (along axis 1)."""
    return np.cumsum(mask[:, ::-1], axis=1, dtype=np.intp)[:, ::-1]


def _window_sum(x: F64, lo: npt.NDArray[np.intp], hi: npt.NDArray[np.intp]) -> F64:
    """Sum of ``x[:, lo[k]:hi[k]]`` for every k; NaN only where that window holds a NaN."""
    zero = np.zeros((x.shape[0], 1))
    bad = np.isnan(x)
    cs = np.concatenate([zero, np.cumsum(np.where(bad, 0.0, x), axis=1)], axis=1)
    cs_bad = np.concatenate([zero, np.cumsum(bad, axis=1)], axis=1)
    total = cs[:, hi] - cs[:, lo]
    return np.where(cs_bad[:, hi] - cs_bad[:, lo] > 0, np.nan, total)


def _adjust(unadj: F64, actual: F64, event: EventSpec, p: BaselineParams) -> tuple[F64, F64]:
    """Apply the same-day adjustment; returns (baseline, adjustment per slot)."""
    r, s = unadj.shape
    if p.adjustment == "none":
        return unadj.copy(), np.zeros((r, s))
    a = p.window_slots(p.adjustment_window_hours[0])
    b = p.window_slots(p.adjustment_window_hours[1])
    if p.adjustment_timing == "fixed":
        lo = np.full(s, event.start_slot + a)
        hi = np.full(s, event.start_slot + b)
        if lo[0] < 0 or hi[0] > s:
            raise ValidationError(
                f"adjustment window slots [{lo[0]}, {hi[0]}) fall outside the event day",
                field="adjustment_window_hours",
                valid="a window inside the event day before the event",
            )
    else:
        # Rolling: window relative to each slot, clipped to the event day (an empty window
        # leaves that slot unadjusted).
        lo = np.clip(np.arange(s) + a, 0, s)
        hi = np.clip(np.arange(s) + b, 0, s)
    act_w = _window_sum(actual, lo, hi)
    base_w = _window_sum(unadj, lo, hi)
    width = (hi - lo)[None, :]
    empty = width == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        if p.adjustment == "multiplicative":
            factor = np.where(empty | (base_w == 0), 1.0, act_w / base_w)
            if p.adjustment_clamp is not None:
                factor = np.clip(factor, *p.adjustment_clamp)
            return unadj * factor, factor
        shift = np.where(empty, 0.0, (act_w - base_w) / np.maximum(width, 1))
        if p.adjustment_clamp is not None:
            mean_base = base_w / np.maximum(width, 1)
            c_lo, c_hi = p.adjustment_clamp
            shift = np.clip(shift, (c_lo - 1) * mean_base, (c_hi - 1) * mean_base)
    return unadj + shift, shift


def compute_baseline(
    loads: F64,
    day_types: npt.NDArray[np.integer],
    event_mask: BoolA,
    event: EventSpec,
    params: BaselineParams | None = None,
) -> BaselineResult:
    """Baselines of ``event`` for every resource in ``loads``.

    ``event_mask``: ``(R or 1, D)`` True on DR event days (per resource or shared), or
    ``(R or 1, D, S)`` True on excluded (day, slot) cells, for predictors that drop only part
    of an event day (then selection runs per slot). The event day's own actual loads
    (``loads[:, event.day]``) feed the same-day adjustment only.
    """
    p = params or BaselineParams()
    loads = np.asarray(loads, dtype=np.float64)
    day_types = np.asarray(day_types)
    event_mask = np.asarray(event_mask, dtype=bool)
    _validate(loads, day_types, event_mask, event, p)
    r, _, s = loads.shape
    rule = p.rules[int(day_types[event.day])]
    first = max(0, event.day - p.lookback_days)
    block = loads[:, first : event.day, :]  # view, no copy
    n = block.shape[1]
    ev = event_mask[:, first : event.day]
    ev = ev[:, :, None] if ev.ndim == 2 else ev
    same = day_types[first : event.day] == day_types[event.day]
    # Day sums propagate NaN: one pass over the block finds every day with missing data.
    missing = ~np.isfinite(block.sum(axis=2))
    wavg = block[:, :, event.start_slot : event.end_slot].mean(axis=2)
    kept, sk_event, sk_low, dropped, fail = _select(wavg, missing, same, ev, rule, p)
    g = kept.shape[2]
    # Gather the kept days (at most rule.keep per resource and slot group) and average them.
    order = np.argsort(~kept, axis=1, kind="stable")[:, : rule.keep, :]
    valid = np.take_along_axis(kept, order, axis=1)
    n_used = valid.sum(axis=1)  # (R, G)
    if n:
        vals = np.take_along_axis(block, order, axis=1)  # (R, keep, S)
        total = np.where(valid, vals, 0.0).sum(axis=1)
    else:
        total = np.zeros((r, s))
    with np.errstate(invalid="ignore", divide="ignore"):
        unadj = total / n_used
    fail_s = np.broadcast_to(fail, (r, s)) if g == 1 else fail
    unadj = np.where(fail_s, np.nan, unadj)
    baseline, adjustment = _adjust(unadj, loads[:, event.day, :], event, p)
    if p.baseline_decimals is not None:
        baseline = np.round(baseline, p.baseline_decimals)
    status = np.full(r, STATUS_OK, dtype=np.int8)
    window = slice(event.start_slot, event.end_slot)
    status[np.isnan(baseline[:, window]).any(axis=1)] = STATUS_ADJUSTMENT_DATA_MISSING
    status[fail_s[:, window].any(axis=1)] = STATUS_TOO_FEW_DAYS
    sk_missing = np.broadcast_to(same[None, :, None] & missing[:, :, None], kept.shape)
    return BaselineResult(
        baseline=baseline,
        unadjusted=unadj,
        adjustment=adjustment,
        status=status,
        used_days=day_bits(kept, event.day, first),
        skipped_event=day_bits(sk_event, event.day, first),
        skipped_missing=day_bits(sk_missing, event.day, first),
        skipped_low_usage=day_bits(sk_low, event.day, first),
        dropped_low=day_bits(dropped, event.day, first),
        n_used=n_used.astype(np.int16),
        window_average=wavg,
    )

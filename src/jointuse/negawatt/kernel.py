"""Negawatt baseline kernel (ネガワット取引のベースライン): arrays in, arrays out, no I/O.

``loads`` is shaped ``(resources, days, slots)`` (float64 kWh per slot, NaN for missing), days in
chronological order. One call computes the baseline of one event day for every resource at once.

The default :class:`BaselineParams` is Japan's standard *High 4 of 5* (weekday events) /
*High 2 of 3* (Saturday, Sunday, holiday events) with an additive same-day adjustment
(当日調整) over the three hours that end one hour before the event. Every rule is a parameter,
so the same kernel also computes e.g. CAISO's 10-of-10 with a multiplicative adjustment clamped
to ±20 %, or LBNL's predictor (10-day average, 96 slots, a multiplicative adjustment that rolls
with each predicted slot).

Selection, per resource (and per slot if the exclusion mask is per slot):

1. *candidates*: days before the event, within ``lookback_days``, of the event's day type;
2. skip days flagged as DR event days (``exclude_event_days``; with a per-day mask they are not
   even read) and days with any missing value;
3. skip low-usage days: window average < ``low_usage_fraction`` × the average over all
   candidate days left after step 2 (``low_usage_basis="candidates"``) or over the
   ``collect`` most recent of them (``"recent"``). The guideline's exact denominator is
   *(unverified)*, hence the choice;
4. collect the ``collect`` most recent remaining days; fewer than ``min_days`` → status
   :data:`STATUS_TOO_FEW_DAYS` and a NaN baseline for that resource (never an exception);
5. keep the ``keep`` days with the highest window sum; ties drop the day farthest from the
   event; the baseline of each slot is the mean of the kept days.

**Exact.** Values are taken as integers at the data's resolution (``resolution`` decimals of
kWh; 3 = Wh, :mod:`jointuse.negawatt.exact`): ranking and ties compare exact integer sums, and
the baseline of each slot is carried as an exact ratio (``exact_num / exact_den`` units) beside
its float64 value, so the settlement can truncate exactly. A value finer than the resolution is
refused (:class:`~jointuse.core.errors.ValidationError` naming it), never rounded silently.

**Adjustment windows before midnight.** For an early-morning event the window (e.g. 3 h ending
1 h before a 01:00 start) reaches into the previous day. ``"fixed"`` timing takes those slots
from the previous calendar day(s): the actual load of the day(s) before the event day, and for
the baseline the same slots of the day(s) before each kept day (the window that precedes the
event time on each baseline day). ``"rolling"`` timing (LBNL) takes them, as the reference
predictor does, from the latest day of the event's day type on which that slot was recorded:
its actual load and that day's own unadjusted baseline. Either way the days must be in
``loads``; a missing value there is :data:`STATUS_ADJUSTMENT_DATA_MISSING`.

Reports are bitmasks over the 64 days before the event: bit ``i`` = day ``event.day - 1 - i``.
The one pass over the loads runs compiled (:mod:`jointuse.negawatt.kernel_scan`); the
adjustment is in :mod:`jointuse.negawatt.kernel_adjust`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from jointuse.core.errors import ValidationError

__all__ = [
    "STATUS_ADJUSTMENT_DATA_MISSING",
    "STATUS_EVENT_DATA_MISSING",
    "STATUS_NAMES",
    "STATUS_OK",
    "STATUS_TOO_FEW_DAYS",
    "BaselineParams",
    "BaselineResult",
    "DayTypeRule",
    "EventSpec",
    "compute_baseline",
    "concat_results",
    "without_adjustment",
]

F64 = npt.NDArray[np.float64]
BoolA = npt.NDArray[np.bool_]
U64 = npt.NDArray[np.uint64]

STATUS_OK = 0
STATUS_TOO_FEW_DAYS = 1
STATUS_ADJUSTMENT_DATA_MISSING = 2
#: Set by the settlement: the event day's actual load has a missing slot in the event window.
STATUS_EVENT_DATA_MISSING = 3
#: Status code → the reason written in results and exports.
STATUS_NAMES: dict[int, str] = {
    STATUS_OK: "ok",
    STATUS_TOO_FEW_DAYS: "too_few_days",
    STATUS_ADJUSTMENT_DATA_MISSING: "adjustment_data_missing",
    STATUS_EVENT_DATA_MISSING: "event_data_missing",
}

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
    ``resolution`` is the number of decimals of kWh the meter data are exact at (3 = 1 Wh; data
    at 0.1 kWh are on that grid too): the kernel computes in integers of that unit.
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
    resolution: int = 3

    def __post_init__(self) -> None:
        for name, valid in (
            ("adjustment", ("none", "additive", "multiplicative")),
            ("adjustment_timing", ("fixed", "rolling")),
            ("low_usage_basis", ("candidates", "recent")),
        ):
            if getattr(self, name) not in valid:
                raise ValidationError(
                    f"{name}={getattr(self, name)!r} is not known", field=name, valid=list(valid)
                )
        for name in ("slots_per_day", "lookback_days", "resolution", "baseline_decimals"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValidationError(f"{name}={value!r} is not an integer", field=name)
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
        if not 0 <= self.resolution <= 9:
            raise ValidationError(
                f"resolution={self.resolution} out of range",
                field="resolution",
                valid="0..9 decimals of kWh (3 = Wh)",
            )
        if self.baseline_decimals is not None and not 0 <= self.baseline_decimals <= 9:
            raise ValidationError(
                f"baseline_decimals={self.baseline_decimals} out of range",
                field="baseline_decimals",
                valid="0..9, or None",
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
    """Baselines of one event day for ``R`` resources.

    ``baseline``/``unadjusted`` are ``(R, S)`` kWh for the whole event day (NaN where there is
    none); ``adjustment`` is the factor (multiplicative) or the shift in kWh (additive) applied
    per slot, ``(R, S)``. ``exact_num / exact_den`` is the adjusted baseline per slot exactly, in
    units of ``10**-resolution`` kWh (int64 or Python-int object arrays; ``exact_den`` is
    ``(R, 1)`` when one denominator serves the whole day). The day bitmasks are ``(R, G)`` with
    ``G`` = 1 for a per-day exclusion mask and ``G`` = S for a per-slot one. ``window_sum`` is
    ``(R, n)`` over the ``n`` days before the event in the lookback (oldest first): each read
    candidate day's sum over the event window, in units; :data:`~.kernel_scan.NONE` for days
    not read (other day type, event day, missing data).
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
    window_sum: npt.NDArray[np.int64]
    exact_num: npt.NDArray[Any]
    exact_den: npt.NDArray[Any]


def concat_results(parts: list[BaselineResult]) -> BaselineResult:
    """Results of resource partitions of one event, concatenated in order."""
    values: dict[str, Any] = {}
    for f in fields(BaselineResult):
        arrays = [getattr(p, f.name) for p in parts]
        if f.name == "exact_den" and len({a.shape[1] for a in arrays}) > 1:
            s = max(a.shape[1] for a in arrays)
            arrays = [np.broadcast_to(a, (a.shape[0], s)) for a in arrays]
        if f.name in ("exact_num", "exact_den") and len({a.dtype for a in arrays}) > 1:
            arrays = [a.astype(object) for a in arrays]
        values[f.name] = np.concatenate(arrays)
    return BaselineResult(**values)


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
    if event_mask.ndim == 3 and event_mask.shape[2] not in (1, s):
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


def _candidates(day_types: npt.NDArray[np.integer], event_day: int, first: int) -> Any:
    """Days of the event's type in ``[first, event_day)``, most recent first."""
    same = np.flatnonzero(day_types[first:event_day] == day_types[event_day]) + first
    return np.ascontiguousarray(same[::-1], dtype=np.int64)


def _fixed_window(event: EventSpec, p: BaselineParams, s: int) -> Any:
    """Offsets (slots from the event day's 00:00, negative = previous days) of a fixed window."""
    if p.adjustment == "none" or p.adjustment_timing != "fixed":
        return np.zeros(0, np.int64)
    a = p.window_slots(p.adjustment_window_hours[0])
    b = p.window_slots(p.adjustment_window_hours[1])
    offs = np.arange(event.start_slot + a, event.start_slot + b, dtype=np.int64)
    if offs[-1] >= s:
        raise ValidationError(
            f"adjustment window slots [{offs[0]}, {offs[-1] + 1}) end after the event day",
            field="adjustment_window_hours",
            valid="a window before the event (e.g. (-4, -1))",
        )
    if event.day + offs[0] // s < 0:
        raise ValidationError(
            f"the adjustment window starts {-offs[0]} slots before the event day, before the "
            "first day of the loads given",
            field="adjustment_window_hours",
            valid="loads that include the day(s) before the event day",
        )
    return offs


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
    from jointuse.negawatt.exact import as_fraction
    from jointuse.negawatt.kernel_adjust import adjust
    from jointuse.negawatt.kernel_scan import POOL_LOCK, scan

    p = params or BaselineParams()
    loads = np.ascontiguousarray(loads, dtype=np.float64)
    day_types = np.asarray(day_types)
    event_mask = np.asarray(event_mask, dtype=bool)
    _validate(loads, day_types, event_mask, event, p)
    _, _, s = loads.shape
    rule = p.rules[int(day_types[event.day])]
    first = max(0, event.day - p.lookback_days)
    ev = event_mask if event_mask.ndim == 3 else event_mask[:, :, None]
    ev = np.ascontiguousarray(ev)
    offs = _fixed_window(event, p, s)
    pre = offs[offs < 0]
    if pre.size and ev.shape[2] > 1:
        raise ValidationError(
            "a fixed adjustment window before midnight needs a per-day exclusion mask",
            field="event_mask",
            valid="(R or 1, D), or adjustment_timing='rolling'",
        )
    low = as_fraction(p.low_usage_fraction) if p.low_usage_fraction is not None else None
    with POOL_LOCK:
        found = scan(
            loads,
            _candidates(day_types, event.day, first),
            ev,
            event.day,
            first,
            event.start_slot,
            event.end_slot,
            10.0**p.resolution,
            rule.collect,
            rule.keep,
            rule.required,
            p.exclude_event_days,
            low is not None,
            low.numerator if low is not None else 0,
            low.denominator if low is not None else 1,
            p.low_usage_basis == "recent",
            np.ascontiguousarray(pre // s),
            np.ascontiguousarray(pre % s),
        )
    usum, n_used, fail, bits, wsum, upre, pre_bad, bad = found
    if bad[3] >= 0:
        r_, d_, s_ = (int(v) for v in bad[:3])
        raise ValidationError(
            f"loads[{r_}, {d_}, {s_}] = {loads[r_, d_, s_]!r} kWh is finer than the resolution "
            f"{10.0**-p.resolution:g} kWh",
            field="resolution",
            valid=f"values with at most {p.resolution} decimals, or a finer resolution",
        )
    adj = adjust(
        loads, day_types, ev, event, p, offs, usum, n_used, fail, upre, pre_bad, compute_baseline
    )
    return BaselineResult(
        baseline=adj.baseline,
        unadjusted=adj.unadjusted,
        adjustment=adj.adjustment,
        status=adj.status,
        used_days=bits[0],
        skipped_event=bits[1],
        skipped_missing=bits[2],
        skipped_low_usage=bits[3],
        dropped_low=bits[4],
        n_used=n_used.astype(np.int16),
        window_sum=wsum,
        exact_num=adj.num,
        exact_den=adj.den,
    )


def without_adjustment(p: BaselineParams) -> BaselineParams:
    """``p`` with no same-day adjustment (the unadjusted baseline of another day)."""
    return replace(p, adjustment="none", baseline_decimals=None)

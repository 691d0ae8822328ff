"""Negawatt settlement (需要抑制量の精算): suppression = baseline − actual, per event day, exact.

Per resource and event day: the suppression of each slot of the event window is summed, exactly
(the baseline is an exact ratio at the data's resolution, :mod:`jointuse.negawatt.exact`), and
the **day total** is rounded with :class:`Rounding` (default: truncate after the second decimal;
a non-positive day total counts as 0). Rounding applies per event day (as programme terms state
it); an event of several days is the sum of its settled days (:mod:`~.runs` adds them).
Totals per balancing group (バランシンググループ) and per contractor (需要抑制契約者)
add the settled amounts as integers.

A resource is settled only with a baseline (status OK) and every actual value of the event
window: a missing actual value is :data:`~.kernel.STATUS_EVENT_DATA_MISSING`, a failure with its
reason, counted 0 and counted as failed — never a settled 0.00 "ok". Generation sold (発電販売量)
and demand procured (需要調達量) are carried alongside and summed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from jointuse.core.errors import ValidationError
from jointuse.negawatt.exact import add, div_round, mul, to_units
from jointuse.negawatt.kernel import (
    STATUS_EVENT_DATA_MISSING,
    STATUS_OK,
    BaselineResult,
    EventSpec,
)

__all__ = ["GroupTotals", "Rounding", "SettlementResult", "group_totals", "settle"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Rounding:
    """How a resource's **event-day** total is rounded: ``mode`` to ``decimals`` places of kWh,
    then (``non_positive_is_zero``) a total ≤ 0 counts as 0. ``"none"`` keeps the exact total
    (then ``decimals`` only sets the unit of the integer amounts, and must hold it exactly)."""

    decimals: int = 2
    mode: Literal["truncate", "half_up", "none"] = "truncate"
    non_positive_is_zero: bool = True
    unit: Literal["event_day"] = "event_day"

    def __post_init__(self) -> None:
        if not 0 <= self.decimals <= 9:
            raise ValidationError(
                f"rounding decimals={self.decimals} out of range", field="decimals", valid="0..9"
            )
        if self.mode not in ("truncate", "half_up", "none"):
            raise ValidationError(
                f"rounding mode {self.mode!r}",
                field="mode",
                valid=["truncate", "half_up", "none"],
            )


@dataclass(frozen=True)
class GroupTotals:
    """Sums per group id (index = group id): settled suppression (kWh, and as integers of
    ``10**-decimals`` kWh), carried quantities, counts."""

    suppressed: F64
    suppressed_units: I64
    generation_sold: F64
    demand_procured: F64
    n_resources: I64
    n_failed: I64


@dataclass(frozen=True)
class SettlementResult:
    """One event day. ``per_slot`` is ``(R, W)`` kWh over the event window (display values);
    ``raw_num / raw_den`` is each resource's exact day total in data units; ``settled`` its
    settled amount in integers of ``10**-decimals`` kWh (``event_total`` the same in kWh);
    ``status`` the kernel's, with :data:`~.kernel.STATUS_EVENT_DATA_MISSING` added."""

    per_slot: F64
    event_total_raw: F64
    event_total: F64
    settled: I64
    raw_num: npt.NDArray[Any]
    raw_den: npt.NDArray[Any]
    status: npt.NDArray[np.int8]
    decimals: int
    by_balancing_group: GroupTotals | None
    by_contractor: GroupTotals | None


def _round(num: Any, den: Any, resolution: int, rounding: Rounding) -> Any:
    """Exact day totals ``num / den`` (units) → integers of ``10**-decimals`` kWh."""
    shift = rounding.decimals - resolution
    n = mul(num, 10**shift) if shift > 0 else num
    d = mul(den, 10**-shift) if shift < 0 else den
    if rounding.mode == "none":
        q = div_round(n, d, "truncate")
        if not (mul(q, d) == n).all():
            raise ValidationError(
                f"rounding mode 'none' needs totals exact at {rounding.decimals} decimals",
                field="decimals",
                valid="more decimals, or mode 'truncate' / 'half_up'",
            )
    else:
        q = div_round(n, d, rounding.mode)
    if rounding.non_positive_is_zero:
        q = np.where(q > 0, q, 0)
    return q


def group_totals(
    ids: Any,
    settled: Any,
    ok: npt.NDArray[np.bool_],
    gen: F64,
    proc: F64,
    decimals: int,
    field: str,
) -> GroupTotals | None:
    """Sums of settled amounts (integers, exactly) and carried quantities per group id."""
    if ids is None:
        return None
    ids = np.asarray(ids)
    r = ok.shape[0]
    if ids.shape != (r,) or not np.issubdtype(ids.dtype, np.integer):
        raise ValidationError(
            f"{field} must be an integer array of shape ({r},)",
            field=field,
            valid=f"int array ({r},)",
        )
    if ids.size and ids.min() < 0:
        raise ValidationError(f"{field} has negative ids", field=field, valid="ids >= 0")
    m = int(ids.max()) + 1 if ids.size else 0
    amounts = np.asarray(settled, dtype=np.int64)
    if int(np.abs(amounts).sum()) < 2**53:  # float sums of integers are exact below 2**53
        units = np.rint(np.bincount(ids, weights=amounts, minlength=m)).astype(np.int64)
    else:
        units = np.zeros(m, dtype=np.int64)
        np.add.at(units, ids, amounts)
    return GroupTotals(
        suppressed=units / 10.0**decimals,
        suppressed_units=units,
        generation_sold=np.bincount(ids, weights=gen, minlength=m).astype(np.float64),
        demand_procured=np.bincount(ids, weights=proc, minlength=m).astype(np.float64),
        n_resources=np.bincount(ids, minlength=m).astype(np.int64),
        n_failed=np.bincount(ids, weights=(~ok).astype(np.float64), minlength=m).astype(np.int64),
    )


def settle(
    base: BaselineResult,
    actual_day: F64,
    event: EventSpec,
    *,
    resolution: int = 3,
    rounding: Rounding = Rounding(),
    direction: Literal["reduce", "increase"] = "reduce",
    balancing_group: I64 | None = None,
    contractor: I64 | None = None,
    generation_sold: F64 | None = None,
    demand_procured: F64 | None = None,
) -> SettlementResult:
    """Settle one event day: ``base`` from :func:`~.kernel.compute_baseline` (with the same
    ``resolution``), ``actual_day`` ``(R, S)`` kWh of the event day (NaN = missing).

    ``direction="increase"`` (上げDR) settles actual − baseline instead of baseline − actual.
    """
    actual_day = np.asarray(actual_day, dtype=np.float64)
    r = base.baseline.shape[0]
    if actual_day.shape != base.baseline.shape:
        raise ValidationError(
            f"actual {actual_day.shape} must match the baseline {base.baseline.shape}",
            field="actual_day",
            valid=f"shape {base.baseline.shape}",
        )
    if direction not in ("reduce", "increase"):
        raise ValidationError(
            f"direction {direction!r}", field="direction", valid=["reduce", "increase"]
        )
    w = slice(event.start_slot, event.end_slot)
    a_units, a_missing = to_units(actual_day[:, w], resolution, where="event window ")
    status = base.status.copy()
    status[(status == STATUS_OK) & a_missing.any(axis=1)] = STATUS_EVENT_DATA_MISSING
    ok = status == STATUS_OK
    num_w = base.exact_num[:, w]
    den = base.exact_den
    den_w = den if den.shape[1] == 1 else den[:, w]
    if den.shape[1] == 1 or bool((den_w == den_w[:, :1]).all()):
        d = np.asarray(den_w[:, :1]).reshape(r)
        raw_num = add(np.asarray(num_w).sum(axis=1), -mul(d, a_units.sum(axis=1)))
        raw_den = d
    else:
        raw_num = np.empty(r, dtype=object)
        raw_den = np.empty(r, dtype=object)
        for i in range(r):
            t = sum(
                (Fraction(int(n), int(dd)) for n, dd in zip(num_w[i], den_w[i], strict=True)),
                Fraction(0),
            ) - int(a_units[i].sum())
            raw_num[i], raw_den[i] = t.numerator, t.denominator
    if direction == "increase":
        raw_num = -raw_num
    raw_num = np.where(ok, raw_num, 0)
    raw_den = np.where(ok, raw_den, 1)
    settled = np.where(ok, _round(raw_num, raw_den, resolution, rounding), 0).astype(np.int64)
    with np.errstate(invalid="ignore"):
        per_slot = base.baseline[:, w] - actual_day[:, w]
        if direction == "increase":
            per_slot = -per_slot
        raw_kwh = np.asarray(raw_num, np.float64) / np.asarray(raw_den, np.float64)
    raw_kwh = np.where(ok, raw_kwh / 10.0**resolution, np.nan)
    gen = np.zeros(r) if generation_sold is None else np.asarray(generation_sold, np.float64)
    proc = np.zeros(r) if demand_procured is None else np.asarray(demand_procured, np.float64)
    for name, arr in (("generation_sold", gen), ("demand_procured", proc)):
        if arr.shape != (r,):
            raise ValidationError(
                f"{name} has shape {arr.shape}", field=name, valid=f"float array ({r},)"
            )
    dec = rounding.decimals
    return SettlementResult(
        per_slot=per_slot,
        event_total_raw=raw_kwh,
        event_total=settled / 10.0**dec,
        settled=settled,
        raw_num=raw_num,
        raw_den=raw_den,
        status=status,
        decimals=dec,
        by_balancing_group=group_totals(
            balancing_group, settled, ok, gen, proc, dec, "balancing_group"
        ),
        by_contractor=group_totals(contractor, settled, ok, gen, proc, dec, "contractor"),
    )

"""Negawatt settlement (需要抑制量の精算): suppression = baseline − actual, totals and groups.

Pure numpy, vectorised over resources. Per-slot suppression is summed over the event window;
the event total is rounded with :class:`Rounding` (default: truncate after the second decimal,
a non-positive total counts as 0). Totals per balancing group (バランシンググループ) and per
contractor (需要抑制契約者) come from integer group-id arrays with ``np.bincount``. Generation
sold (発電販売量) and demand procured (需要調達量) are carried alongside and summed the same way.
Resources whose baseline failed (status ≠ OK) count as 0 and are counted separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from jointuse.core.errors import ValidationError
from jointuse.negawatt.kernel import STATUS_OK, EventSpec

__all__ = ["GroupTotals", "Rounding", "SettlementResult", "round_total", "settle"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Rounding:
    """How a day/event total is rounded: ``mode`` to ``decimals`` places, optional floor at 0."""

    decimals: int = 2
    mode: Literal["truncate", "half_up", "none"] = "truncate"
    non_positive_is_zero: bool = True


def round_total(x: F64, rounding: Rounding = Rounding()) -> F64:
    """Round totals (also usable to re-round the sum of several events of one day).

    A tiny epsilon guards against binary artefacts (``0.29 * 100`` = ``28.999999999999996``).
    """
    scale = 10.0**rounding.decimals
    if rounding.mode == "truncate":
        out = np.trunc(x * scale + np.sign(x) * 1e-9) / scale
    elif rounding.mode == "half_up":
        out = np.sign(x) * np.floor(np.abs(x) * scale + 0.5 + 1e-9) / scale
    else:
        out = np.array(x, dtype=np.float64, copy=True)
    if rounding.non_positive_is_zero:
        out = np.where(out > 0, out, 0.0)
    return out


@dataclass(frozen=True)
class GroupTotals:
    """Sums per group id (index = group id): settled suppression, carried quantities, counts."""

    suppressed: F64
    generation_sold: F64
    demand_procured: F64
    n_resources: I64
    n_failed: I64


@dataclass(frozen=True)
class SettlementResult:
    """``per_slot`` is ``(R, W)`` over the event window; totals are ``(R,)``."""

    per_slot: F64
    event_total_raw: F64
    event_total: F64
    by_balancing_group: GroupTotals | None
    by_contractor: GroupTotals | None


def _group(
    ids: I64 | None,
    settled: F64,
    ok: npt.NDArray[np.bool_],
    gen: F64,
    proc: F64,
    field: str,
) -> GroupTotals | None:
    if ids is None:
        return None
    ids = np.asarray(ids)
    if ids.shape != settled.shape or not np.issubdtype(ids.dtype, np.integer):
        raise ValidationError(
            f"{field} must be an integer array of shape {settled.shape}",
            field=field,
            valid=f"int array ({settled.shape[0]},)",
        )
    if ids.size and ids.min() < 0:
        raise ValidationError(f"{field} has negative ids", field=field, valid="ids >= 0")
    m = int(ids.max()) + 1 if ids.size else 0
    return GroupTotals(
        suppressed=np.bincount(ids, weights=settled, minlength=m).astype(np.float64),
        generation_sold=np.bincount(ids, weights=gen, minlength=m).astype(np.float64),
        demand_procured=np.bincount(ids, weights=proc, minlength=m).astype(np.float64),
        n_resources=np.bincount(ids, minlength=m).astype(np.int64),
        n_failed=np.bincount(ids, weights=(~ok).astype(np.float64), minlength=m).astype(np.int64),
    )


def settle(
    baseline: F64,
    actual_day: F64,
    event: EventSpec,
    *,
    status: npt.NDArray[np.int8] | None = None,
    rounding: Rounding = Rounding(),
    balancing_group: I64 | None = None,
    contractor: I64 | None = None,
    generation_sold: F64 | None = None,
    demand_procured: F64 | None = None,
) -> SettlementResult:
    """Settle one event: ``baseline`` and ``actual_day`` are ``(R, S)`` for the event day."""
    baseline = np.asarray(baseline, dtype=np.float64)
    actual_day = np.asarray(actual_day, dtype=np.float64)
    if baseline.ndim != 2 or baseline.shape != actual_day.shape:
        raise ValidationError(
            f"baseline {baseline.shape} and actual {actual_day.shape} must both be (R, S)",
            field="actual_day",
            valid=f"shape {baseline.shape}",
        )
    r = baseline.shape[0]
    window = slice(event.start_slot, event.end_slot)
    per_slot = baseline[:, window] - actual_day[:, window]
    raw = per_slot.sum(axis=1)
    ok = np.isfinite(raw)
    if status is not None:
        ok &= np.asarray(status) == STATUS_OK
    settled = np.where(ok, round_total(np.where(ok, raw, 0.0), rounding), 0.0)
    gen = np.zeros(r) if generation_sold is None else np.asarray(generation_sold, np.float64)
    proc = np.zeros(r) if demand_procured is None else np.asarray(demand_procured, np.float64)
    for name, arr in (("generation_sold", gen), ("demand_procured", proc)):
        if arr.shape != (r,):
            raise ValidationError(
                f"{name} has shape {arr.shape}", field=name, valid=f"float array ({r},)"
            )
    return SettlementResult(
        per_slot=per_slot,
        event_total_raw=raw,
        event_total=settled,
        by_balancing_group=_group(balancing_group, settled, ok, gen, proc, "balancing_group"),
        by_contractor=_group(contractor, settled, ok, gen, proc, "contractor"),
    )

"""Stored settlement runs (精算結果の保存): what a run computed, from what, how — and reading it
back through the gate.

A run keeps (:mod:`~.tables`):

* its **parameters**: the baseline method and every rule, the rounding (applied per event day),
  the data's resolution, the policy version, the event as settled;
* its **inputs' identities**: each meter day it read, as imported (importer, time, SHA-256 of
  the stored values), and their digest;
* per resource and event day: status and reason (a denied read, too few days, a missing value
  in the adjustment or event window), each candidate day with what became of it (kept,
  dropped as lowest, skipped as event day, for missing data, as low-usage; not collected) and
  its window total; per slot the unadjusted baseline, the adjustment, the baseline, the actual
  load and the suppression; the exact day total and the settled amount;
* totals per balancing group and per contractor, per event day and for the event; the digest of
  all results. Computing again from the same inputs with the same parameters gives the same
  results digest (tested).

Per-slot values are shown with 6 decimals; the day totals are exact (computed from the exact
ratios, never from the shown values) and the settled amounts are decimals with the rounding's
places. Results are personal data of their supply point (category ``negawatt``): each
resource's rows are written through the gate (P5 write) and read through it (P5 read:
:func:`load_settlement_results` is the category's loader) — by the contractor holding the
resource, the retailer supplying the point, the area's TSO and OCCTO (while it relays a flow of
the point), as the policy allows. A resource whose readings the gate refused carries that refusal
as its reason; its rows hold no values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from decimal import Decimal, localcontext
from typing import Any

import numpy as np

from jointuse.access.gate import Gate, LoadContext, PolicyDenied
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import NotFound
from jointuse.customers.relations import RelationContext, TargetRef
from jointuse.negawatt import repository as repo
from jointuse.negawatt.distributed import SettledRun
from jointuse.negawatt.kernel import STATUS_NAMES, STATUS_OK, BaselineParams
from jointuse.negawatt.kernel_scan import NONE
from jointuse.negawatt.options import describe, options_dict
from jointuse.negawatt.relation import NEGAWATT_WRITE, P5, _aware, negawatt_gate
from jointuse.negawatt.repository import Event, StoredRun
from jointuse.negawatt.settlement import Rounding
from jointuse.policy.engine import Party

__all__ = ["load_settlement_results", "read_point_results", "read_run", "store_run"]

RESULT_ITEMS = frozenset({"baseline", "demand_suppressed"})
_REASONS = {
    "ok": "settled",
    "too_few_days": "fewer usable days of the event's day type than the rule requires",
    "adjustment_data_missing": "a value of the same-day adjustment window is missing",
    "event_data_missing": "a value of the event window is missing on the event day",
}
_DAY_FATES = ("kept", "event_day", "missing_data", "low_usage", "dropped_lowest")


def _dec(x: float) -> str | None:
    return None if not np.isfinite(x) else f"{x:.6f}"


def _exact(num: Any, den: Any, places: int = 9) -> str:
    with localcontext() as c:
        c.prec = 60
        return str((Decimal(int(num)) / Decimal(int(den))).quantize(Decimal(1).scaleb(-places)))


def _amount(units: int, decimals: int) -> str:
    return str(Decimal(int(units)).scaleb(-decimals).quantize(Decimal(1).scaleb(-decimals)))


def _candidates(
    run: SettledRun, i: int, day: dt.date, first: dt.date, p: BaselineParams, event_idx: int
) -> list[dict[str, Any]]:
    """The candidate days of resource ``i`` (same day type within the lookback), newest first."""
    from jointuse.core.calendar import baseline_day_types

    b = run.baseline
    masks = [int(getattr(b, f)[i, 0]) for f in ("used_days", "skipped_event", "skipped_missing")]
    masks += [int(b.skipped_low_usage[i, 0]), int(b.dropped_low[i, 0])]
    lookback_first = max(0, event_idx - p.lookback_days)
    dates = [first + dt.timedelta(days=k) for k in range(event_idx + 1)]
    types = baseline_day_types(dates)
    out = []
    for k in range(event_idx - 1, lookback_first - 1, -1):
        if types[k] != types[event_idx]:
            continue
        bit = 1 << (event_idx - 1 - k)
        fate = next((f for f, m in zip(_DAY_FATES, masks, strict=True) if m & bit), "not_collected")
        w = int(b.window_sum[i, k - lookback_first])
        total = None if w == NONE else str(Decimal(w).scaleb(-p.resolution))
        out.append({"date": dates[k].isoformat(), "fate": fate, "window_kwh": total})
    return out


def _rows(
    e: Event,
    days: list[tuple[dt.date, SettledRun]],
    loads: Any,
    first: dt.date,
    groups: list[str],
    denied: dict[str, str],
    p: BaselineParams,
    rounding: Rounding,
) -> list[dict[str, Any]]:
    rows = []
    w0, w1 = e.first_slot - 1, e.last_slot
    for day, run in days:
        st = run.settlement
        k = (day - first).days
        for i, point in enumerate(run.resource_ids):
            group = groups[int(run.balancing_group[i])] if groups else ""
            if point in denied:
                rows.append(
                    {
                        "supply_point_id": point,
                        "day": day,
                        "balancing_group_code": group,
                        "status": "access_denied",
                        "reason": denied[point],
                        "candidate_days": "[]",
                        "slots": "{}",
                        "raw_total": "",
                        "settled": _amount(0, rounding.decimals),
                    }
                )
                continue
            status = STATUS_NAMES[int(st.status[i])]
            base = run.baseline
            supp: list[str | None] = [None] * p.slots_per_day
            for s in range(w0, w1):
                supp[s] = _dec(float(st.per_slot[i, s - w0]))
            slots = {
                "unadjusted_kwh": [_dec(v) for v in base.unadjusted[i]],
                "adjustment": [_dec(v) for v in base.adjustment[i]],
                "baseline_kwh": [_dec(v) for v in base.baseline[i]],
                "actual_kwh": [_dec(v) for v in loads[i, k]],
                "suppression_kwh": supp,
            }
            ok = int(st.status[i]) == STATUS_OK
            rows.append(
                {
                    "supply_point_id": point,
                    "day": day,
                    "balancing_group_code": group,
                    "status": status,
                    "reason": _REASONS[status],
                    "candidate_days": json.dumps(
                        _candidates(run, i, day, first, p, k), separators=(",", ":")
                    ),
                    "slots": json.dumps(slots, separators=(",", ":")),
                    "raw_total": (
                        _exact(st.raw_num[i], int(st.raw_den[i]) * 10**p.resolution) if ok else ""
                    ),
                    "settled": _amount(int(st.settled[i]), rounding.decimals),
                }
            )
    return rows


def summarize(rows: list[dict[str, Any]], decimals: int, contractor: str) -> dict[str, Any]:
    """Totals per balancing group and for the contractor, per event day and for the event."""
    groups: dict[str, dict[str, Any]] = {}
    total = Decimal(0)
    by_day: dict[str, Decimal] = {}
    statuses: dict[str, int] = {}
    for r in rows:
        g = groups.setdefault(
            r["balancing_group_code"],
            {"suppressed_kwh": Decimal(0), "by_day": {}, "resources": set(), "failed": set()},
        )
        amount = Decimal(r["settled"])
        day = r["day"].isoformat()
        g["suppressed_kwh"] += amount
        g["by_day"][day] = g["by_day"].get(day, Decimal(0)) + amount
        g["resources"].add(r["supply_point_id"])
        if r["status"] != "ok":
            g["failed"].add(r["supply_point_id"])
        total += amount
        by_day[day] = by_day.get(day, Decimal(0)) + amount
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    q = Decimal(1).scaleb(-decimals)
    return {
        "balancing_groups": {
            code: {
                "suppressed_kwh": str(g["suppressed_kwh"].quantize(q)),
                "by_day": {d: str(v.quantize(q)) for d, v in sorted(g["by_day"].items())},
                "resources": len(g["resources"]),
                "failed": len(g["failed"]),
            }
            for code, g in sorted(groups.items())
        },
        "contractor": {
            "code": contractor,
            "suppressed_kwh": str(total.quantize(q)),
            "by_day": {d: str(v.quantize(q)) for d, v in sorted(by_day.items())},
        },
        "resource_days_by_status": dict(sorted(statuses.items())),
    }


def _digest(items: list[dict[str, Any]]) -> str:
    text = json.dumps(items, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def store_run(
    uow: UnitOfWork,
    *,
    actor: Party,
    event: Event,
    days: list[tuple[dt.date, SettledRun]],
    loads: Any,
    first: dt.date,
    groups: list[str],
    denied: dict[str, str],
    identities: list[dict[str, Any]],
    params: BaselineParams,
    rounding: Rounding,
    request_id: str,
    at: dt.datetime,
    gate: Gate | None = None,
) -> StoredRun:
    """Store a computed settlement (module docstring); each resource's rows pass the gate."""
    rows = _rows(event, days, loads, first, groups, denied, params, rounding)
    inputs = sorted(identities, key=lambda r: (r["supply_point_id"], r["day"]))
    settings = {
        "method": describe(params),
        "options": options_dict(params, rounding),
        "policy_version": negawatt_gate(gate).policy.notice.version,
        "event": {
            "event_id": event.event_id,
            "days": [d.isoformat() for d in event.days],
            "first_slot": event.first_slot,
            "last_slot": event.last_slot,
            "direction": event.direction,
            "resources": list(event.resources),
        },
    }
    run = StoredRun(
        run_id=uuid.uuid4().hex,
        event_id=event.event_id,
        contractor_code=actor.code,
        created_at=_aware(at),
        request_id=request_id,
        params=json.dumps(settings, sort_keys=True),
        inputs_digest=_digest([{k: v for k, v in i.items() if k != "imported_at"} for i in inputs]),
        results_digest=_digest(rows),
        summary=json.dumps(summarize(rows, rounding.decimals, actor.code), sort_keys=True),
    )
    conn = uow.connection
    repo.insert_run(conn, run)
    by_point: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_point.setdefault(r["supply_point_id"], []).append(r)
    g = negawatt_gate(gate)
    for point, point_rows in by_point.items():
        point_inputs = [i for i in inputs if i["supply_point_id"] == point]

        def change(
            ctx: RelationContext,
            point_rows: list[dict[str, Any]] = point_rows,
            point_inputs: list[dict[str, Any]] = point_inputs,
        ) -> None:
            repo.insert_run_rows(ctx.conn, run.run_id, point_inputs, point_rows)

        if point in denied:  # no values: the refusal itself, recorded without a gate write
            repo.insert_run_rows(conn, run.run_id, point_inputs, point_rows)
            continue
        g.write(
            uow,
            actor=actor,
            purpose=P5,
            target=TargetRef(point),
            items=NEGAWATT_WRITE,
            request_id=request_id,
            at=_aware(at),
            change=change,
        )
    return run


def _row_out(r: dict[str, Any], items: frozenset[str] | tuple[str, ...]) -> dict[str, Any]:
    slots = json.loads(r["slots"])
    out: dict[str, Any] = {
        "run_id": r["run_id"],
        "supply_point_id": r["supply_point_id"],
        "date": r["day"].isoformat(),
        "balancing_group": r["balancing_group_code"],
        "status": r["status"],
        "reason": r["reason"],
    }
    if "event_id" in r:
        out["event_id"] = r["event_id"]
    if "baseline" in items:
        out["candidate_days"] = json.loads(r["candidate_days"])
        for key in ("unadjusted_kwh", "adjustment", "baseline_kwh"):
            out[key] = slots.get(key)
    if "demand_suppressed" in items:
        out["actual_kwh"] = slots.get("actual_kwh")
        out["suppression_kwh"] = slots.get("suppression_kwh")
        out["raw_total_kwh"] = r["raw_total"] or None
        out["settled_kwh"] = r["settled"]
    return out


def load_settlement_results(ctx: LoadContext) -> dict[str, object]:
    """Loader of the ``negawatt`` category: the target point's stored settlement results for
    event days within the allowing relation's period (a retailer's supply, a contractor's
    agreement), as JSON-ready rows; ``baseline`` holds the baselines and candidate days,
    ``demand_suppressed`` the actual loads, suppression and amounts."""
    from jointuse.customers.relations import contracts_in_force
    from jointuse.negawatt.readings import _window_days

    point = ctx.relations.target.supply_point_id
    if point is None:  # a customer named: their point in force
        contracts = contracts_in_force(ctx.relations)
        point = contracts[0].supply_point_id.value if contracts else None
    if point is None:
        return {item: [] for item in ("baseline", "demand_suppressed") if item in ctx.items}
    lo, hi = _window_days(ctx.decision.valid_from, ctx.decision.valid_to)
    rows = repo.point_results(ctx.conn, point, lo, hi)
    out: dict[str, object] = {}
    for item in ("baseline", "demand_suppressed"):
        if item in ctx.items:
            out[item] = [_row_out(r, (item,)) for r in rows]
    return out


def read_point_results(
    uow: UnitOfWork,
    *,
    actor: Party,
    supply_point_id: str,
    request_id: str,
    at: dt.datetime,
    purpose: str = P5,
    run_id: str | None = None,
    gate: Gate | None = None,
) -> list[dict[str, Any]]:
    """One point's stored results, through the gate (P5 read of ``baseline`` and
    ``demand_suppressed``), merged per run and day; only ``run_id``'s if given."""
    result = negawatt_gate(gate).read(
        uow,
        actor=actor,
        purpose=purpose,
        target=TargetRef(supply_point_id),
        items=RESULT_ITEMS,
        request_id=request_id,
        at=_aware(at),
    )
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for item in ("baseline", "demand_suppressed"):
        for row in result.data.get(item, []):  # type: ignore[attr-defined]
            merged.setdefault((row["run_id"], row["date"]), {}).update(row)
    rows = list(merged.values())
    return [r for r in rows if run_id is None or r["run_id"] == run_id]


def read_run(
    uow: UnitOfWork,
    *,
    actor: Party,
    run_id: str,
    request_id: str,
    at: dt.datetime,
    gate: Gate | None = None,
) -> tuple[StoredRun, list[dict[str, Any]], list[dict[str, Any]]]:
    """A run of the acting contractor: its header, its inputs' identities, and every resource's
    rows, each point read through the gate (a refused point's rows are left out; the refusal
    is on the ledger)."""
    run = repo.get_run(uow.connection, run_id)
    if run is None or run.contractor_code != actor.code:
        raise NotFound(f"no settlement run {run_id!r} of {actor.code}", field="run_id")
    inputs = repo.run_inputs(uow.connection, run_id)
    points = sorted({r["supply_point_id"] for r in repo.run_results(uow.connection, run_id)})
    rows: list[dict[str, Any]] = []
    for point in points:
        stored = repo.run_results(uow.connection, run_id, point)
        if stored and stored[0]["status"] == "access_denied":
            rows += [_row_out(r, ()) for r in stored]
            continue
        try:
            rows += read_point_results(
                uow,
                actor=actor,
                supply_point_id=point,
                request_id=request_id,
                at=at,
                run_id=run_id,
                gate=gate,
            )
        except PolicyDenied as exc:  # recorded; the unit of work goes on in a new transaction
            reason = f"{exc.details.get('reason')}: {exc.message}"
            rows.append({"supply_point_id": point, "status": "not_readable", "reason": reason})
    return run, inputs, rows

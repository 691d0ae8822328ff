"""CSV exports of a stored settlement run: results (per resource-day, per resource-event, per
balancing group and for the contractor), per-slot detail, and the demand-suppression plan.

All are built from rows as read through the gate (:func:`jointuse.negawatt.runs.read_run`),
never from the tables directly. Amounts are the stored decimals (exact); per-slot values have 6
decimals.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from jointuse.negawatt.repository import StoredRun

RESULT_COLUMNS = [
    "level",
    "run_id",
    "event_id",
    "balancing_group",
    "supply_point_id",
    "date",
    "status",
    "reason",
    "days_kept",
    "suppressed_raw_kwh",
    "suppressed_kwh",
]
SLOT_COLUMNS = [
    "run_id",
    "supply_point_id",
    "date",
    "slot",
    "unadjusted_kwh",
    "adjustment",
    "baseline_kwh",
    "actual_kwh",
    "suppression_kwh",
]


def _writer() -> tuple[io.StringIO, Any]:
    out = io.StringIO()
    return out, csv.writer(out, lineterminator="\n")


def results_csv(run: StoredRun, rows: list[dict[str, Any]]) -> str:
    """``level`` = ``day`` (one resource, one event day: rounding applies here), ``event`` (the
    resource's event total: the sum of its settled days), ``balancing_group``, ``contractor``."""
    out, w = _writer()
    w.writerow(RESULT_COLUMNS)
    settings = json.loads(run.params)
    decimals = int(settings["options"]["rounding"]["decimals"])
    q = Decimal(1).scaleb(-decimals)
    per_point: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        per_point.setdefault(r["supply_point_id"], []).append(r)
    for point, days in per_point.items():
        total = Decimal(0)
        statuses = set()
        for r in days:
            kept = sum(1 for c in r.get("candidate_days") or [] if c["fate"] == "kept")
            settled = r.get("settled_kwh") or str(Decimal(0).quantize(q))
            total += Decimal(settled)
            statuses.add(r["status"])
            w.writerow(
                [
                    "day",
                    run.run_id,
                    run.event_id,
                    r.get("balancing_group", ""),
                    point,
                    r.get("date", ""),
                    r["status"],
                    r["reason"],
                    kept,
                    r.get("raw_total_kwh") or "",
                    settled,
                ]
            )
        status = "ok" if statuses == {"ok"} else "failed"
        w.writerow(
            [
                "event",
                run.run_id,
                run.event_id,
                days[0].get("balancing_group", ""),
                point,
                "",
                status,
                "sum of the settled event days",
                "",
                "",
                str(total.quantize(q)),
            ]
        )
    summary = json.loads(run.summary)
    for code, g in summary["balancing_groups"].items():
        w.writerow(
            [
                "balancing_group",
                run.run_id,
                run.event_id,
                code,
                "*",
                "",
                f"failed={g['failed']}",
                f"{g['resources']} resources",
                "",
                "",
                g["suppressed_kwh"],
            ]
        )
    c = summary["contractor"]
    w.writerow(
        [
            "contractor",
            run.run_id,
            run.event_id,
            "*",
            "*",
            "",
            "",
            c["code"],
            "",
            "",
            c["suppressed_kwh"],
        ]
    )
    return out.getvalue()


def slots_csv(run: StoredRun, rows: list[dict[str, Any]]) -> str:
    """One line per resource, event day and slot (1-48) with the per-slot detail."""
    out, w = _writer()
    w.writerow(SLOT_COLUMNS)
    for r in rows:
        series = [r.get(k) or [] for k in SLOT_COLUMNS[4:]]
        if not any(series):
            continue
        for s in range(48):
            w.writerow(
                [run.run_id, r["supply_point_id"], r["date"], s + 1]
                + [(v[s] if s < len(v) and v[s] is not None else "") for v in series]
            )
    return out.getvalue()


def plan_csv(run: StoredRun, rows: list[dict[str, Any]]) -> str:
    """Demand-suppression plan (需要抑制計画): baseline per point and per balancing group and
    slot of the event window, on every event day (a failed resource adds nothing to its group)."""
    out, w = _writer()
    w.writerow(["balancing_group", "supply_point_id", "date", "slot", "baseline_kwh"])
    settings = json.loads(run.params)
    first, last = settings["event"]["first_slot"], settings["event"]["last_slot"]
    group_sum: dict[tuple[str, str, int], Decimal] = {}
    for r in rows:
        base = r.get("baseline_kwh") or []
        for slot in range(first, last + 1):
            v = base[slot - 1] if slot - 1 < len(base) else None
            w.writerow(
                [r.get("balancing_group", ""), r["supply_point_id"], r["date"], slot, v or ""]
            )
            if r["status"] == "ok" and v is not None:
                key = (r.get("balancing_group", ""), r["date"], slot)
                group_sum[key] = group_sum.get(key, Decimal(0)) + Decimal(v)
    for (group, date, slot), v in sorted(group_sum.items()):
        w.writerow([group, "*", date, slot, str(v)])
    return out.getvalue()

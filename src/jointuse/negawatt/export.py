"""CSV exports of a settled event: the demand-suppression plan and the settlement results."""

from __future__ import annotations

import csv
import io

import numpy as np

from jointuse.negawatt.events import EventSettlement
from jointuse.negawatt.kernel import STATUS_OK


def _num(x: float) -> str:
    return "" if not np.isfinite(x) else f"{x:.3f}"


def plan_csv(s: EventSettlement) -> str:
    """Demand-suppression plan (需要抑制計画): baseline per point and per balancing group, slot."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["balancing_group", "supply_point_id", "date", "slot", "baseline_kwh"])
    e, run = s.event, s.run
    slots = range(e.first_slot, e.last_slot + 1)
    group_sum = np.zeros((len(s.groups), len(slots)))
    for i, point in enumerate(run.resource_ids):
        g = int(run.balancing_group[i])
        values = run.baseline.baseline[i, e.first_slot - 1 : e.last_slot]
        if run.baseline.status[i] == STATUS_OK:
            group_sum[g] += values
        for k, slot in enumerate(slots):
            w.writerow(
                [s.groups[g] if s.groups else "", point, e.day.isoformat(), slot, _num(values[k])]
            )
    for g, name in enumerate(s.groups):
        for k, slot in enumerate(slots):
            w.writerow([name, "*", e.day.isoformat(), slot, _num(group_sum[g, k])])
    return out.getvalue()


def results_csv(s: EventSettlement) -> str:
    """Settlement results per resource, then per balancing group (``supply_point_id`` = ``*``)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "event_id",
            "balancing_group",
            "supply_point_id",
            "date",
            "first_slot",
            "last_slot",
            "direction",
            "status",
            "days_used",
            "suppressed_raw_kwh",
            "suppressed_kwh",
        ]
    )
    e, run = s.event, s.run
    st = run.settlement
    for i, point in enumerate(run.resource_ids):
        g = int(run.balancing_group[i])
        status = (
            "access_denied"
            if point in s.denied
            else ("ok" if run.baseline.status[i] == STATUS_OK else "failed")
        )
        w.writerow(
            [
                e.event_id,
                s.groups[g] if s.groups else "",
                point,
                e.day.isoformat(),
                e.first_slot,
                e.last_slot,
                e.direction,
                status,
                int(run.baseline.n_used[i].max()),
                _num(st.event_total_raw[i]),
                f"{st.event_total[i]:.2f}",
            ]
        )
    if st.by_balancing_group is not None:
        for g, name in enumerate(s.groups):
            w.writerow(
                [
                    e.event_id,
                    name,
                    "*",
                    e.day.isoformat(),
                    e.first_slot,
                    e.last_slot,
                    e.direction,
                    f"failed={int(st.by_balancing_group.n_failed[g])}",
                    "",
                    "",
                    f"{st.by_balancing_group.suppressed[g]:.2f}",
                ]
            )
    return out.getvalue()

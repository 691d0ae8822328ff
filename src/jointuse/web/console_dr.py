"""The DR contractor's console (ネガワット取引): its agreements (with their state: proposed,
confirmed, withdrawn) and resources, its events, and each stored settlement run with, per
resource and event day, the baseline against the actual load slot by slot (server-side SVG,
:mod:`jointuse.web.slot_chart`).

The same services as ``/v1/negawatt`` (:mod:`jointuse.negawatt.service`): the agreements,
resources, events and runs' headers are the contractor's own records; a run's results are
personal data of their points and are read through the gate (P5, as
``GET /v1/negawatt/settlements/{run_id}``), so each view is on the ledger. Only a DR contractor's
session; a user whose role reaches no personal data (auditor, administrator, field staff) is
refused (``role_not_permitted``), on the ledger.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import AccessDenied, JointuseError
from jointuse.negawatt import service as negawatt
from jointuse.policy.engine import Party
from jointuse.web.common import error_page, now, render
from jointuse.web.console import _as_party, _rid, s_gate
from jointuse.web.slot_chart import slot_chart, slot_time
from jointuse.webauth.service import WebSession

router = APIRouter(prefix="/console/dr", include_in_schema=False)
KIND = "dr_contractor"
ROLES = (None, "operator")


def _operator(party: Party) -> None:
    if party.role not in ROLES:
        raise AccessDenied(
            f"user {party.user!r} has the role {party.role}, which does not reach the "
            "DR contractor's pages",
            reason="role_not_permitted",
        )


def _event(e: Any) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "day": e.day.isoformat(),
        "last_day": (e.last_day or e.day).isoformat(),
        "first_slot": e.first_slot,
        "last_slot": e.last_slot,
        "from": slot_time(e.first_slot),
        "to": slot_time(e.last_slot + 1) if e.last_slot < 48 else "24:00",
        "direction": e.direction,
        "status": e.status,
        "resources": list(e.resources),
    }


def _run(run: Any) -> dict[str, Any]:
    params = json.loads(run.params)
    return {
        "run_id": run.run_id,
        "event_id": run.event_id,
        "created_at": run.created_at.isoformat(),
        "method": params.get("method"),
        "summary": json.loads(run.summary),
        "results_digest": run.results_digest,
    }


@router.get("")
async def overview(request: Request) -> Response:
    """Agreements with their state, resources with their group, events."""

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        _operator(party)
        agreements, resources = negawatt.contractor_portfolio(uow, actor=party)
        events = negawatt.list_events(uow, actor=party)
        return {
            "agreements": agreements,
            "resources": resources,
            "events": [_event(e) for e in events],
        }

    try:
        session, data = await _as_party(request, use_case, kind=KIND, purpose=negawatt.P5)
    except JointuseError as exc:
        return error_page(request, exc)
    return render(request, "console_dr.html", session=session, **data)


@router.get("/events/{event_id}")
async def event(event_id: str, request: Request) -> Response:
    """One event and its stored settlement runs (headers: no personal data)."""

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        _operator(party)
        e, runs = negawatt.event_runs(uow, actor=party, event_id=event_id)
        return {"event": _event(e), "runs": [_run(r) for r in runs]}

    try:
        session, data = await _as_party(request, use_case, kind=KIND, purpose=negawatt.P5)
    except JointuseError as exc:
        return error_page(request, exc)
    return render(request, "console_dr_event.html", session=session, **data)


@router.get("/settlements/{run_id}")
async def settlement(run_id: str, request: Request) -> Response:
    """A run: its totals, and per resource and day the status, the settled amount and the chart
    of baseline against actual (each point's results read through the gate, P5)."""
    at = now(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        _operator(party)
        stored, inputs, rows = negawatt.read_run(
            uow, actor=party, run_id=run_id, request_id=_rid(request), at=at, gate=s_gate(request)
        )
        e, _runs = negawatt.event_runs(uow, actor=party, event_id=stored.event_id)
        return {"run": _run(stored), "event": _event(e), "inputs": len(inputs), "rows": rows}

    try:
        session, data = await _as_party(request, use_case, kind=KIND, purpose=negawatt.P5)
    except JointuseError as exc:
        return error_page(request, exc)
    event_ = data["event"]
    first, last = event_["first_slot"], event_["last_slot"]
    shown = []
    for n, row in enumerate(
        sorted(data["rows"], key=lambda r: (r.get("date", ""), r["supply_point_id"]))
    ):
        baseline, actual = row.get("baseline_kwh"), row.get("actual_kwh")
        window = [
            {
                "slot": s,
                "time": slot_time(s),
                "baseline": (baseline or [None] * 48)[s - 1],
                "actual": (actual or [None] * 48)[s - 1],
                "suppression": (row.get("suppression_kwh") or [None] * 48)[s - 1],
            }
            for s in range(first, last + 1)
        ]
        shown.append(
            {
                "row": row,
                "cid": f"chart-{n}",
                "chart": slot_chart(baseline, actual, first, last),
                "window": window if baseline or actual else [],
            }
        )
    return render(request, "console_dr_settlement.html", session=session, shown=shown, **data)

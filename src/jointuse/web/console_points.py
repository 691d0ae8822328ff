"""The TSO's supply point items in the console (``/console/supply-points``): the TSO, controller
of the supply-point items (供給地点情報の管理責任者), looks a point up by its 供給地点特定番号 and
reads its sixteen items through the gate (P4, as ``GET /v1/supply-points/{id}`` with
``X-Purpose: P4_tso_operations``; each view on the ledger), and changes the items its staff keep
by hand — current limit, 検針日 code, contract state
(:func:`jointuse.customers.service.change_supply_point_items`, a P4 write of exactly those
items). Both are POSTs: the point's ID stays out of URLs and logs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError
from jointuse.core.ids import SupplyPointId
from jointuse.core.valuesets import load_valueset
from jointuse.customers import service as customers
from jointuse.customers.model import SUPPLY_POINT_ITEM_KEYS
from jointuse.flows.dates import reading_codes
from jointuse.policy.engine import Party
from jointuse.web.common import error_page, form_of, lang_of, now, render
from jointuse.web.console import _as_party, _item_labels, _rid, s_gate
from jointuse.webauth.service import WebSession

router = APIRouter(prefix="/console/supply-points", include_in_schema=False)
PURPOSE = customers.P4


def _read(request: Request, uow: UnitOfWork, party: Party, point: str) -> dict[str, Any]:
    read = customers.read_basic(
        uow,
        gate=s_gate(request),
        actor=party,
        purpose=PURPOSE,
        supply_point_id=point,
        items=frozenset(SUPPLY_POINT_ITEM_KEYS),
        request_id=_rid(request),
        at=now(request),
    )
    return dict(read.data)


def _page(
    request: Request,
    session: WebSession,
    *,
    point: str | None = None,
    items: dict[str, Any] | None = None,
    changed: list[str] | None = None,
) -> Response:
    ja = lang_of(request) == "ja"
    states = [
        (e.code, e.label_ja if ja else e.label_en) for e in load_valueset("contract_state").entries
    ]
    codes = [int(c) for c in reading_codes(SupplyPointId.parse(point).tso_code)] if point else []
    return render(
        request,
        "console_points.html",
        session=session,
        point=point,
        items=items,
        labels=_item_labels(request),
        order=list(SUPPLY_POINT_ITEM_KEYS),
        states=states,
        reading_codes=codes,
        changed=changed,
    )


@router.get("")
async def look_up_form(request: Request) -> Response:
    try:
        session, _ = await _as_party(request, lambda uow, s, p: None, kind="tso")
    except JointuseError as exc:
        return error_page(request, exc)
    return _page(request, session)


@router.post("")
async def look_up(request: Request) -> Response:
    """A point's sixteen items, read through the gate (P4)."""
    form = await form_of(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> tuple[str, dict[str, Any]]:
        point = SupplyPointId.parse(form.get("supply_point_id", "")).value
        return point, _read(request, uow, party, point)

    try:
        session, (point, items) = await _as_party(
            request, use_case, form=form, kind="tso", purpose=PURPOSE
        )
    except JointuseError as exc:
        return error_page(request, exc)
    return _page(request, session, point=point, items=items)


@router.post("/items")
async def change_items(request: Request) -> Response:
    """Change the point's hand-kept items, then show it again (read through the gate)."""
    form = await form_of(request)
    changes = {k: form.get(k, "") for k in customers.EDITABLE_POINT_ITEMS if k in form}

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> tuple[str, list[str]]:
        point = SupplyPointId.parse(form.get("supply_point_id", "")).value
        done = customers.change_supply_point_items(
            uow,
            gate=s_gate(request),
            actor=party,
            supply_point_id=point,
            changes=changes,
            request_id=_rid(request),
            at=now(request),
        )
        changed = done.data.get("changed", [])
        return point, [str(k) for k in changed] if isinstance(changed, list) else []

    try:
        _s, (point, changed) = await _as_party(
            request, use_case, form=form, kind="tso", purpose=PURPOSE, action="write"
        )
    except JointuseError as exc:
        return error_page(request, exc)

    def reread(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        return _read(request, uow, party, point)

    try:
        session, items = await _as_party(request, reread, kind="tso", purpose=PURPOSE)
    except JointuseError as exc:
        return error_page(request, exc)
    return _page(request, session, point=point, items=items, changed=changed)

"""HTTP routes of the customer / supply-point registry — thin: parse, call the use case, shape.

Every route hands its work to :func:`jointuse.customers.service.as_caller` — awaited in the
thread pool, on SQLite one request at a time (:func:`jointuse.core.http.run_unit`) — which
opens the request's one transaction (:class:`~jointuse.core.db.UnitOfWork`), authenticates the
caller on its connection first (:meth:`~jointuse.core.http.Credentials.authenticate`: 401,
nothing recorded, if that fails) and runs the route's use case of
:mod:`jointuse.customers.service` in it; the use case passes the access gate, which decides,
projects to the granted items and records the decision on the access ledger — one transaction
per request.

Purpose header (``Jointuse-Purpose``) per route
    ==========================================  ===============================================
    ``GET  /v1/customers/{id}``                 required (any purpose; the policy decides)
    ``GET  /v1/supply-points/{id}/customer``    required (P4 for the area's TSO; the policy
                                                decides any other)
    ``GET  /v1/supply-points/{id}``             optional: the supply point inquiry
                                                (設備情報照会) serves P3, the default; another
                                                purpose reads the supply-point items under it
    ``PUT  /v1/supply-points/{id}``             optional, default P4 (the TSO, as controller)
    ==========================================  ===============================================

    The write takes an ``Idempotency-Key`` (:mod:`jointuse.messages.idempotency`).

    A missing purpose (where required) goes to the gate: refused with ``purpose_missing``,
    recorded on the ledger, answered 400 with the valid purposes. An unknown, ambiguous or
    unreadable one is refused at the edge (:mod:`jointuse.core.edge`), recorded too, also 400.

Customers and contracts are not registered here: a retailer's customer record and contract come
from the market flows it files (:mod:`jointuse.flows.api`: switch, move-in), the contracts in
force at go-live from the operator's import (``jointuse contracts import``).

Unknown IDs: where the policy lets the caller see the target (e.g. the area's TSO), an unknown
supply point or customer is a 404; where it does not, the answer is the policy's 403 — so a
refusal never tells an outsider whether an ID exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Response, status

from jointuse.access.gate import GateResult
from jointuse.core.db import UnitOfWork, connect_read_only
from jointuse.core.errors import NotFound, ValidationError
from jointuse.core.http import (
    ApiContext,
    Caller,
    Credentials,
    api_context,
    request_credentials,
    run_unit,
)
from jointuse.core.ids import CUSTOMER_ID_PATTERN, SupplyPointId
from jointuse.customers import service
from jointuse.customers.model import (
    SUPPLY_POINT_ITEM_KEYS,
    ContractCapacity,
    MeterInfo,
    SupplyPoint,
)
from jointuse.customers.schemas import (
    AccessOut,
    ItemsOut,
    SupplyPointIn,
    WriteOut,
)
from jointuse.messages.idempotency_http import Answer, IdempotencyDep, answer

router = APIRouter(prefix="/v1", tags=["customers and supply points"])
bench_router = APIRouter(
    prefix="/v1/_bench/bare",
    tags=["benchmark only (never in production)"],
)

Context = Annotated[ApiContext, Depends(api_context)]
CredentialsDep = Annotated[Credentials, Depends(request_credentials)]
ItemsQuery = Annotated[
    str | None,
    Query(
        max_length=1024,
        description="Comma-separated item keys to ask for (default: what the route reads).",
    ),
]

_CUSTOMER_ID = re.compile(CUSTOMER_ID_PATTERN)
#: Most item keys one request may ask for (the policy has two dozen).
MAX_ITEMS = 32


# --- helpers --------------------------------------------------------------------------------


def _point(text: str) -> str:
    return SupplyPointId.parse(text).value


def _customer_id(text: str) -> str:
    if not _CUSTOMER_ID.fullmatch(text):
        raise ValidationError(
            f"customer id {text[:80]!r} is malformed",
            field="customer_id",
            valid="1–64 ASCII letters, digits, '-' or '_', starting with a letter or digit",
        )
    return text


def _items(text: str | None) -> frozenset[str] | None:
    if text is None or not text.strip():
        return None
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if len(keys) > MAX_ITEMS:
        raise ValidationError(
            f"items: {len(keys)} keys asked; at most {MAX_ITEMS}",
            field="items",
            valid=f"at most {MAX_ITEMS} comma-separated item keys of the policy",
        )
    bad = [k for k in keys if not re.fullmatch(r"[a-z_]{1,64}", k)]
    if bad:
        raise ValidationError(
            f"items: {bad[0][:80]!r} is not an item key",
            field="items",
            valid="comma-separated item keys of the policy, e.g. supply_area,meter_info",
        )
    return frozenset(keys)


def _access(result: GateResult) -> AccessOut:
    d = result.decision
    return AccessOut(
        purpose=d.purpose, rule=d.rule_id, relation=d.relation, items_granted=list(d.granted)
    )


# --- reads ----------------------------------------------------------------------------------


_Result = TypeVar("_Result")


async def _as_caller(
    credentials: Credentials, use_case: Callable[[UnitOfWork, Caller], _Result]
) -> _Result:
    """The request's one transaction (:func:`jointuse.customers.service.as_caller`), awaited in
    the thread pool, on SQLite one at a time (:func:`jointuse.core.http.run_unit`)."""
    return await run_unit(
        credentials.engine,
        service.as_caller,
        credentials.engine,
        credentials.authenticate,
        use_case,
    )


def _read(
    uow: UnitOfWork,
    caller: Caller,
    *,
    supply_point_id: str | None = None,
    customer_id: str | None = None,
    items: frozenset[str] | None,
) -> GateResult:
    """Read through the gate under the purpose the caller stated."""
    return service.read_basic(
        uow,
        gate=caller.gate,
        actor=caller.party,
        purpose=caller.purpose,
        supply_point_id=supply_point_id,
        customer_id=customer_id,
        items=items,
        request_id=caller.request_id,
        at=caller.at,
    )


@router.get(
    "/supply-points/{supply_point_id}",
    response_model=ItemsOut,
    summary="Supply point inquiry (設備情報照会, P3): only the granted items",
)
async def supply_point_inquiry(
    supply_point_id: str, credentials: CredentialsDep, items: ItemsQuery = None
) -> ItemsOut:
    def inquire(uow: UnitOfWork, caller: Caller) -> tuple[str, GateResult]:
        point = _point(supply_point_id)
        asked = _items(items)
        if caller.purpose in (None, service.P3):
            return point, service.supply_point_inquiry(
                uow,
                gate=caller.gate,
                actor=caller.party,
                supply_point_id=point,
                request_id=caller.request_id,
                at=caller.at,
                items=asked,
            )
        return point, _read(
            uow, caller, supply_point_id=point, items=asked or frozenset(SUPPLY_POINT_ITEM_KEYS)
        )

    point, result = await _as_caller(credentials, inquire)
    return ItemsOut(supply_point_id=point, access=_access(result), items=result.data)


@router.get(
    "/supply-points/{supply_point_id}/customer",
    response_model=ItemsOut,
    summary="The customer at a supply point: name, address, phone (P4, the area's TSO)",
)
async def supply_point_customer(
    supply_point_id: str, credentials: CredentialsDep, items: ItemsQuery = None
) -> ItemsOut:
    def look_up(uow: UnitOfWork, caller: Caller) -> tuple[str, GateResult]:
        point = _point(supply_point_id)
        asked = _items(items) or service.TSO_LOOKUP_ITEMS
        return point, _read(uow, caller, supply_point_id=point, items=asked)

    point, result = await _as_caller(credentials, look_up)
    return ItemsOut(supply_point_id=point, access=_access(result), items=result.data)


@router.get(
    "/customers/{customer_id}",
    response_model=ItemsOut,
    summary="A customer's data under the stated purpose: only the granted items",
)
async def get_customer(
    customer_id: str, credentials: CredentialsDep, items: ItemsQuery = None
) -> ItemsOut:
    def read(uow: UnitOfWork, caller: Caller) -> tuple[str, GateResult]:
        cid = _customer_id(customer_id)
        return cid, _read(uow, caller, customer_id=cid, items=_items(items))

    cid, result = await _as_caller(credentials, read)
    return ItemsOut(customer_id=cid, access=_access(result), items=result.data)


# --- writes ---------------------------------------------------------------------------------


@router.put(
    "/supply-points/{supply_point_id}",
    response_model=WriteOut,
    summary="The area's TSO registers or updates a supply point's sixteen items (P4)",
    responses={201: {"model": WriteOut, "description": "Registered (new supply point)"}},
)
async def save_supply_point(
    supply_point_id: str,
    body: SupplyPointIn,
    credentials: CredentialsDep,
    idem: IdempotencyDep,
) -> Response:
    def save(uow: UnitOfWork, caller: Caller) -> Answer:
        point = _supply_point(supply_point_id, body)
        result = service.save_supply_point(
            uow,
            gate=caller.gate,
            actor=caller.party,
            point=point,
            request_id=caller.request_id,
            at=caller.at,
            purpose=caller.purpose or service.P4,
        )
        out = WriteOut(
            supply_point_id=point.supply_point_id.value, access=_access(result), result=result.data
        )
        created = bool(result.data.get("created"))
        return Answer(status.HTTP_201_CREATED if created else status.HTTP_200_OK, out)

    return await answer(credentials, idem, save)


def _supply_point(supply_point_id: str, body: SupplyPointIn) -> SupplyPoint:
    point_id = SupplyPointId.parse(supply_point_id)
    capacity = body.contract_capacity
    meter = body.meter_info
    return SupplyPoint(
        supply_point_id=point_id,
        supply_area=body.supply_area or point_id.area_code,
        service_menu=body.service_menu,
        supply_method=body.supply_method,
        capacity_determination_method=body.capacity_determination_method,
        contract_state=body.contract_state,
        remote_island_tariff=body.remote_island_tariff,
        contract_capacity=(
            ContractCapacity.parse(capacity.value, capacity.unit) if capacity else None
        ),
        current_limit=body.current_limit,
        power_factor=body.power_factor,
        meter_info=(
            MeterInfo(meter.meter_number, meter.smart_meter, meter.multiplier) if meter else None
        ),
        lead_in_pole_number=body.lead_in_pole_number,
        grid_connected_generation=body.grid_connected_generation,
        wheeling_change_date=body.wheeling_change_date,
        meter_reading_day=body.meter_reading_day,
        disconnection_method=body.disconnection_method,
    )


# --- benchmark only -------------------------------------------------------------------------


@bench_router.get(
    "/supply-points/{supply_point_id}",
    response_model=ItemsOut,
    summary="BENCHMARK ONLY: the same row with no authentication, policy or ledger",
)
def bare_supply_point(supply_point_id: str, ctx: Context) -> ItemsOut:
    """Measures what the gate costs. Mounted only with ``create_app(bench=True)`` or
    ``JOINTUSE_BENCH_ENDPOINTS=1``; it bypasses every access control, so never in production."""
    # The one deliberate bypass of the gate (allow-listed in tests/test_architecture.py).
    from jointuse.customers import repository

    point = _point(supply_point_id)
    with connect_read_only(ctx.engine) as conn:
        found = repository.get_supply_point(conn, point)
    if found is None:
        raise NotFound(f"supply point {point} is not registered", supply_point_id=point)
    data: dict[str, Any] = found.items()
    access = AccessOut(purpose=None, rule=None, relation=None, items_granted=list(data))
    return ItemsOut(supply_point_id=point, access=access, items=data)

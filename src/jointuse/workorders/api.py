"""HTTP routes of the work orders (the area's TSO only; each call on the ledger).

=====================================  ===================================================
``POST /v1/work-orders``               open an order: kind, reason, window, points/feeder
``POST /v1/work-orders/{id}/scope``    widen it: more points, or a feeder's
``POST /v1/work-orders/{id}/close``    close it now
``GET  /v1/work-orders``               the TSO's orders (``?open=true``: open now)
``PUT  /v1/feeders/{feeder}``          the points a feeder serves (topology)
=====================================  ===================================================

The writes take an ``Idempotency-Key`` (:mod:`jointuse.messages.idempotency`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response, status
from pydantic import Field

from jointuse.core.db import UnitOfWork
from jointuse.core.http import Caller, Credentials, StrictModel, request_credentials, run_unit
from jointuse.customers.service import as_caller
from jointuse.messages.idempotency_http import IdempotencyDep, answer_value
from jointuse.workorders import service, staff

router = APIRouter(prefix="/v1", tags=["work orders (作業指示)"])
CredentialsDep = Annotated[Credentials, Depends(request_credentials)]
Point = Annotated[str, Field(max_length=64)]


class OrderIn(StrictModel):
    kind: Literal["meter_reading", "maintenance", "meter_replacement", "outage", "disaster"]
    reason: str = Field(max_length=500)
    starts_at: datetime
    ends_at: datetime
    points: list[Point] = Field(default_factory=list, max_length=service.MAX_POINTS_PER_CALL)
    feeder: str | None = Field(default=None, max_length=32)


class ScopeIn(StrictModel):
    points: list[Point] = Field(default_factory=list, max_length=service.MAX_POINTS_PER_CALL)
    feeder: str | None = Field(default=None, max_length=32)


class FeederIn(StrictModel):
    points: list[Point] = Field(min_length=1, max_length=service.MAX_POINTS_PER_CALL)


async def _call(credentials: Credentials, use_case: Any) -> Any:
    return await run_unit(
        credentials.engine, as_caller, credentials.engine, credentials.authenticate, use_case
    )


@router.post("/work-orders", status_code=status.HTTP_201_CREATED, summary="Open a work order")
async def open_order(body: OrderIn, credentials: CredentialsDep, idem: IdempotencyDep) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        order = service.open_order(
            uow,
            actor=caller.party,
            kind=body.kind,
            reason=body.reason,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            points=body.points,
            feeder=body.feeder,
            request_id=caller.request_id,
            at=caller.at,
        )
        return service.view(order)

    return await answer_value(credentials, idem, status.HTTP_201_CREATED, use_case)


@router.post("/work-orders/{order_id}/scope", summary="Widen an open work order")
async def widen(
    order_id: str, body: ScopeIn, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        order = service.widen(
            uow,
            actor=caller.party,
            order_id=order_id,
            points=body.points,
            feeder=body.feeder,
            request_id=caller.request_id,
            at=caller.at,
        )
        return service.view(order)

    return await answer_value(credentials, idem, status.HTTP_200_OK, use_case)


@router.post("/work-orders/{order_id}/close", summary="Close a work order now")
async def close(order_id: str, credentials: CredentialsDep, idem: IdempotencyDep) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        order = service.close(
            uow, actor=caller.party, order_id=order_id, request_id=caller.request_id, at=caller.at
        )
        return service.view(order)

    return await answer_value(credentials, idem, status.HTTP_200_OK, use_case)


class StaffIn(StrictModel):
    user: str = Field(min_length=1, max_length=64, description="a field_staff user of the TSO")


@router.post("/work-orders/{order_id}/staff", summary="Assign field staff to an open order")
async def assign_staff(order_id: str, body: StaffIn, credentials: CredentialsDep) -> dict[str, str]:
    def use_case(uow: UnitOfWork, caller: Caller) -> None:
        staff.assign(
            uow,
            actor=caller.party,
            order_id=order_id,
            user=body.user,
            request_id=caller.request_id,
            at=caller.at,
        )

    await _call(credentials, use_case)
    return {"order_id": order_id, "user": body.user.strip().lower(), "state": "assigned"}


@router.delete("/work-orders/{order_id}/staff/{user}", summary="End a staff assignment")
async def unassign_staff(order_id: str, user: str, credentials: CredentialsDep) -> dict[str, str]:
    def use_case(uow: UnitOfWork, caller: Caller) -> None:
        staff.unassign(
            uow,
            actor=caller.party,
            order_id=order_id,
            user=user,
            request_id=caller.request_id,
            at=caller.at,
        )

    await _call(credentials, use_case)
    return {"order_id": order_id, "user": user.strip().lower(), "state": "unassigned"}


@router.get("/work-orders", summary="Your work orders (newest first)")
async def list_orders(credentials: CredentialsDep, open: bool = False) -> dict[str, Any]:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        found = service.orders(uow, actor=caller.party, at=caller.at, open_only=open)
        return {"orders": [service.view(o) for o in found]}

    return dict(await _call(credentials, use_case))


@router.put("/feeders/{feeder}", summary="The points a feeder (配電線) serves")
async def set_feeder(
    feeder: str, body: FeederIn, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        n = service.set_feeder(
            uow,
            actor=caller.party,
            feeder=feeder,
            points=body.points,
            request_id=caller.request_id,
        )
        return {"feeder": feeder, "points": n}

    return await answer_value(credentials, idem, status.HTTP_200_OK, use_case)

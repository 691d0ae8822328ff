"""HTTP routes of the negawatt area (``/v1/negawatt``) — thin: parse, call the use case, shape.

Every route hands its use case to :func:`jointuse.customers.service.as_caller` through
:func:`jointuse.core.http.run_unit` (one transaction per request, the caller authenticated on
its connection first); personal data pass the app's gate (``caller.gate``). A DR contractor
manages its balancing groups, registers customers' DR agreements (the registration as it is; the
agreement's lifecycle belongs to the need-to-know work) and resources, creates, amends (before
settlement) and cancels events, settles them with options and reads its runs' results, as JSON
or CSV. Any party the policy allows (the contractor, the retailer supplying the point, the
area's TSO, OCCTO while it relays a flow of the point) reads a point's stored results under P5.

==========================================================  =======================================
``POST  /v1/negawatt/balancing-groups``                      a group of the calling contractor
``POST  /v1/negawatt/agreements``                            register a DR agreement (P5 write)
``POST  /v1/negawatt/agreements/{id}/withdrawal``            the customer withdrew (P5 write)
``POST  /v1/negawatt/resources``                             a DR resource in a group (P5 write)
``POST  /v1/negawatt/events``                                create an event
``PATCH /v1/negawatt/events/{id}``                           amend it (409 once settled)
``POST  /v1/negawatt/events/{id}/cancellation``              cancel it (409 once settled)
``POST  /v1/negawatt/events/{id}/settlements``               settle with ``options``; store the run
``GET   /v1/negawatt/settlements/{run_id}``                  the run: parameters, inputs, results;
                                                             ``?format=csv|slots|plan`` for CSV
``GET   /v1/negawatt/supply-points/{id}/results``            a point's results (purpose P5 default)
==========================================================  =======================================

The purpose header is optional on these routes: they serve P5 (a point's results may be read
under another purpose the policy allows; the gate decides and records it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response, status

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import ValidationError
from jointuse.core.http import Caller, Credentials, request_credentials, run_unit
from jointuse.core.ids import SupplyPointId
from jointuse.customers import service as customers
from jointuse.negawatt import service
from jointuse.negawatt.options import options_from
from jointuse.negawatt.schemas import (
    AgreementIn,
    EventIn,
    EventOut,
    EventPatch,
    GroupIn,
    PointResultsOut,
    ResourceIn,
    RunOut,
    SettlementIn,
)

router = APIRouter(prefix="/v1/negawatt", tags=["negawatt (ネガワット取引)"])
CredentialsDep = Annotated[Credentials, Depends(request_credentials)]
_T = TypeVar("_T")


async def _as_caller(credentials: Credentials, use_case: Callable[[UnitOfWork, Caller], _T]) -> _T:
    def checked(uow: UnitOfWork, caller: Caller) -> _T:
        if caller.purpose not in (None, service.P5):
            raise ValidationError(
                f"negawatt routes serve {service.P5}, not {caller.purpose}",
                field="Jointuse-Purpose",
                valid=[service.P5],
            )
        return use_case(uow, caller)

    return await run_unit(
        credentials.engine,
        customers.as_caller,
        credentials.engine,
        credentials.authenticate,
        checked,
    )


def _event(e: Any) -> EventOut:
    return EventOut(
        event_id=e.event_id,
        day=e.day,
        last_day=e.last_day,
        first_slot=e.first_slot,
        last_slot=e.last_slot,
        direction=e.direction,
        status=e.status,
        resources=list(e.resources),
    )


@router.post("/balancing-groups", status_code=status.HTTP_201_CREATED, response_model=GroupIn)
async def add_group(body: GroupIn, credentials: CredentialsDep) -> GroupIn:
    def run(uow: UnitOfWork, c: Caller) -> None:
        service.register_group(uow, actor=c.party, code=body.code, name=body.name)

    await _as_caller(credentials, run)
    return body


@router.post("/agreements", status_code=status.HTTP_201_CREATED)
async def add_agreement(
    body: AgreementIn, credentials: CredentialsDep, request: Request
) -> dict[str, Any]:
    """Propose a DR agreement: it opens nothing until the customer confirms it (the customer's
    enrolled addresses get the wording and a code)."""
    mailer = getattr(request.app.state, "mailer", None)

    def run(uow: UnitOfWork, c: Caller) -> Any:
        return service.register_agreement(
            uow,
            actor=c.party,
            customer_id=body.customer_id,
            supply_point_id=body.supply_point_id,
            agreed_on=body.agreed_on,
            expires_on=body.expires_on,
            scope=body.scope,
            agreement_id=body.agreement_id,
            request_id=c.request_id,
            at=c.at,
            gate=c.gate,
            scope_purposes=tuple(body.scope_purposes) if body.scope_purposes else None,
            scope_items=tuple(body.scope_items) if body.scope_items else None,
            data_from=body.data_from,
            data_to=body.data_to,
            mailer=mailer,
        )

    a = await _as_caller(credentials, run)
    return {
        "agreement_id": a.agreement_id,
        "supply_point_id": a.supply_point_id,
        "agreed_on": a.agreed_on.isoformat(),
        "expires_on": a.expires_on.isoformat() if a.expires_on else None,
        "state": a.state,
    }


@router.post("/agreements/{agreement_id}/withdrawal")
async def withdraw(agreement_id: str, credentials: CredentialsDep) -> dict[str, Any]:
    def run(uow: UnitOfWork, c: Caller) -> Any:
        return service.withdraw_agreement(
            uow,
            actor=c.party,
            agreement_id=agreement_id,
            request_id=c.request_id,
            at=c.at,
            gate=c.gate,
        )

    a = await _as_caller(credentials, run)
    return {"agreement_id": a.agreement_id, "withdrawn_at": a.withdrawn_at.isoformat()}


@router.post("/resources", status_code=status.HTTP_201_CREATED)
async def add_resource(body: ResourceIn, credentials: CredentialsDep) -> dict[str, str]:
    def run(uow: UnitOfWork, c: Caller) -> Any:
        return service.register_resource(
            uow,
            actor=c.party,
            agreement_id=body.agreement_id,
            group_code=body.group_code,
            request_id=c.request_id,
            at=c.at,
            gate=c.gate,
        )

    r = await _as_caller(credentials, run)
    return {"supply_point_id": r.supply_point_id, "group_code": r.balancing_group_code}


@router.post("/events", status_code=status.HTTP_201_CREATED, response_model=EventOut)
async def create_event(body: EventIn, credentials: CredentialsDep) -> EventOut:
    def run(uow: UnitOfWork, c: Caller) -> Any:
        return service.create_event(
            uow,
            actor=c.party,
            day=body.day,
            last_day=body.last_day,
            first_slot=body.first_slot,
            last_slot=body.last_slot,
            resources=body.resources,
            direction=body.direction,
            event_id=body.event_id,
            at=c.at,
        )

    return _event(await _as_caller(credentials, run))


@router.patch("/events/{event_id}", response_model=EventOut)
async def amend_event(event_id: str, body: EventPatch, credentials: CredentialsDep) -> EventOut:
    def run(uow: UnitOfWork, c: Caller) -> Any:
        return service.amend_event(
            uow,
            actor=c.party,
            event_id=event_id,
            day=body.day,
            last_day=body.last_day,
            first_slot=body.first_slot,
            last_slot=body.last_slot,
            resources=body.resources,
            direction=body.direction,
        )

    return _event(await _as_caller(credentials, run))


@router.post("/events/{event_id}/cancellation", response_model=EventOut)
async def cancel_event(event_id: str, credentials: CredentialsDep) -> EventOut:
    def run(uow: UnitOfWork, c: Caller) -> Any:
        return service.cancel_event(uow, actor=c.party, event_id=event_id, at=c.at)

    return _event(await _as_caller(credentials, run))


def _run_out(run: Any, inputs: Any = None, rows: Any = None) -> RunOut:
    import json

    params = json.loads(run.params)
    return RunOut(
        run_id=run.run_id,
        event_id=run.event_id,
        created_at=run.created_at.isoformat(),
        method=params["method"],
        params=params,
        inputs_digest=run.inputs_digest,
        results_digest=run.results_digest,
        summary=json.loads(run.summary),
        inputs=[{k: str(v) for k, v in i.items() if k != "run_id"} for i in inputs]
        if inputs is not None
        else None,
        results=rows,
    )


@router.post(
    "/events/{event_id}/settlements", status_code=status.HTTP_201_CREATED, response_model=RunOut
)
async def settle(event_id: str, body: SettlementIn, credentials: CredentialsDep) -> RunOut:
    def run(uow: UnitOfWork, c: Caller) -> Any:
        params, rounding = options_from(body.options)
        return service.settle_event(
            uow,
            actor=c.party,
            event_id=event_id,
            request_id=c.request_id,
            at=c.at,
            params=params,
            rounding=rounding,
            gate=c.gate,
        )

    result = await _as_caller(credentials, run)
    return _run_out(result.stored)


@router.get("/settlements/{run_id}", response_model=RunOut)
async def get_run(
    run_id: str,
    credentials: CredentialsDep,
    format: Annotated[Literal["json", "csv", "slots", "plan"], Query()] = "json",
) -> Any:
    def run(uow: UnitOfWork, c: Caller) -> Any:
        return service.read_run(
            uow, actor=c.party, run_id=run_id, request_id=c.request_id, at=c.at, gate=c.gate
        )

    stored, inputs, rows = await _as_caller(credentials, run)
    if format == "json":
        return _run_out(stored, inputs, rows)
    build = {"csv": service.results_csv, "slots": service.slots_csv, "plan": service.plan_csv}
    return Response(
        build[format](stored, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{run_id}-{format}.csv"'},
    )


@router.get("/supply-points/{supply_point_id}/results", response_model=PointResultsOut)
async def point_results(
    supply_point_id: str,
    credentials: CredentialsDep,
    run: Annotated[str | None, Query(max_length=64)] = None,
) -> PointResultsOut:
    def read(uow: UnitOfWork, c: Caller) -> tuple[str, list[dict[str, Any]]]:
        point = SupplyPointId.parse(supply_point_id).value
        return point, service.read_point_results(
            uow,
            actor=c.party,
            supply_point_id=point,
            request_id=c.request_id,
            at=c.at,
            run_id=run,
            gate=c.gate,
        )

    point, rows = await _as_caller(credentials, read)
    return PointResultsOut(supply_point_id=point, results=rows)

"""HTTP routes of the rights requests (APPI Arts. 33–35).

The customer (``Authorization: Bearer jc_…``):

==============================================  ==============================================
``POST /v1/me/requests/disclosure``             開示: the format (json, csv, pdf)
``POST /v1/me/requests/correction``             訂正: the record, category, item, value, reason
``POST /v1/me/requests/stop-use``               利用停止・消去: the record, Art. 35 ground, what
``GET  /v1/me/requests``, ``…/{id}``            my requests: state, deadline, parties, steps
``GET  /v1/me/requests/{id}/download``          the disclosure, when ready
==============================================  ==============================================

The joint users a request is routed or propagated to (their tokens; each call on the ledger):

==============================================  ==============================================
``GET  /v1/rights-requests``                    the requests addressed to me (``?kind=``): no
                                                personal data — what, state, deadline, my part
``GET  /v1/rights-requests/{id}``               the request addressed to me
``POST /v1/rights-requests/{id}/acceptance``    the controller accepts a correction (applied
                                                through the gate)
``POST /v1/rights-requests/{id}/refusal``       …or refuses it with reasons
``POST /v1/rights-requests/{id}/confirmation``  a holder confirms it stopped using / erased
==============================================  ==============================================
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import Field

from jointuse.core.db import UnitOfWork
from jointuse.core.http import Caller, Credentials, StrictModel, request_credentials, run_unit
from jointuse.customers.service import as_caller
from jointuse.messages.idempotency_http import IdempotencyDep, answer_value
from jointuse.rights import requests as rr
from jointuse.rights import requests_service as service
from jointuse.rights.api import Bearer, _ctx
from jointuse.rights.disclosure import MEDIA_TYPES

me_router = APIRouter(prefix="/v1/me/requests", tags=["customers (本人)"])
party_router = APIRouter(prefix="/v1/rights-requests", tags=["rights requests (開示等の請求)"])
CredentialsDep = Annotated[Credentials, Depends(request_credentials)]


class DisclosureIn(StrictModel):
    format: Literal["json", "csv", "pdf"] = "json"


class CorrectionIn(StrictModel):
    supply_point_id: str | None = Field(default=None, max_length=64)
    category: Literal["basic", "supply_point", "negawatt"]
    item: str = Field(max_length=64)
    value: str | int | bool | dict[str, str] | None
    reason: str = Field(default="", max_length=1000)


class StopUseIn(StrictModel):
    supply_point_id: str | None = Field(default=None, max_length=64)
    ground: str = Field(
        max_length=64, description="an Art. 35 ground: " + ", ".join(rr.STOP_USE_GROUNDS)
    )
    action: Literal["stop_use", "erasure", "stop_provision", "withdraw_consent"] = "stop_use"
    reason: str = Field(default="", max_length=1000)


class RefusalIn(StrictModel):
    reasons: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        min_length=1, max_length=10
    )


class ConfirmationIn(StrictModel):
    note: str | None = Field(default=None, max_length=500)


async def _submit(request: Request, bearer: str | None, kind: str, fields: dict[str, Any]) -> Any:
    engine, _mailer, at, _source = _ctx(request)
    gate = request.app.state.jointuse.gate
    return await run_unit(engine, lambda: service.submit(engine, bearer, at, gate, kind, fields))


@me_router.post(
    "/disclosure", status_code=status.HTTP_201_CREATED, summary="Ask for disclosure (開示)"
)
async def disclosure(body: DisclosureIn, request: Request, authorization: Bearer = None) -> Any:
    return await _submit(request, authorization, "disclosure", {"format": body.format})


@me_router.post(
    "/correction", status_code=status.HTTP_201_CREATED, summary="Ask for a correction (訂正)"
)
async def correction(body: CorrectionIn, request: Request, authorization: Bearer = None) -> Any:
    return await _submit(request, authorization, "correction", body.model_dump())


@me_router.post(
    "/stop-use",
    status_code=status.HTTP_201_CREATED,
    summary="Ask to stop use or erase (利用停止・消去)",
)
async def stop_use(body: StopUseIn, request: Request, authorization: Bearer = None) -> Any:
    return await _submit(request, authorization, "stop_use", body.model_dump())


@me_router.get("", summary="My requests")
async def my_requests(request: Request, authorization: Bearer = None) -> Any:
    engine, _mailer, at, _source = _ctx(request)
    return await run_unit(engine, lambda: service.my_requests(engine, authorization, at))


@me_router.get("/{rights_id}", summary="One of my requests, with its steps")
async def my_request(rights_id: str, request: Request, authorization: Bearer = None) -> Any:
    engine, _mailer, at, _source = _ctx(request)
    return await run_unit(engine, lambda: service.my_request(engine, authorization, at, rights_id))


@me_router.get("/{rights_id}/download", summary="The disclosure document, when ready")
async def download(rights_id: str, request: Request, authorization: Bearer = None) -> Response:
    engine, _mailer, at, _source = _ctx(request)
    rid = getattr(request.state, "request_id", None) or rights_id
    fmt, document = await run_unit(
        engine, lambda: service.download(engine, authorization, at, rights_id, rid)
    )
    return Response(
        document,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="disclosure-{rights_id}.{fmt}"'},
    )


async def _call(credentials: Credentials, use_case: Any) -> Any:
    return await run_unit(
        credentials.engine, as_caller, credentials.engine, credentials.authenticate, use_case
    )


@party_router.get("", summary="The rights requests addressed to you (no personal data)")
async def addressed_list(
    credentials: CredentialsDep,
    kind: Annotated[Literal["disclosure", "correction", "stop_use"] | None, Query()] = None,
) -> Any:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        return {"requests": service.addressed(uow, caller.party, at=caller.at, kind=kind)}

    return await _call(credentials, use_case)


@party_router.get("/{rights_id}", summary="A rights request addressed to you")
async def addressed(rights_id: str, credentials: CredentialsDep) -> Any:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        return rr.party_view(
            uow, caller.gate, caller.party, rights_id, request_id=caller.request_id, at=caller.at
        )

    return await _call(credentials, use_case)


@party_router.post(
    "/{rights_id}/acceptance", summary="Accept a correction (applied through the gate)"
)
async def accept(
    rights_id: str, request: Request, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    mailer = request.app.state.mailer

    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        r = rr.accept_correction(
            uow,
            caller.gate,
            mailer,
            caller.party,
            rights_id,
            request_id=caller.request_id,
            at=caller.at,
        )
        return {"id": r.id, "state": r.state}

    return await answer_value(credentials, idem, status.HTTP_200_OK, use_case)


@party_router.post("/{rights_id}/refusal", summary="Refuse a correction, with reasons")
async def refuse(
    rights_id: str,
    body: RefusalIn,
    request: Request,
    credentials: CredentialsDep,
    idem: IdempotencyDep,
) -> Response:
    mailer = request.app.state.mailer

    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        r = rr.refuse_correction(
            uow,
            mailer,
            caller.party,
            rights_id,
            reasons=body.reasons,
            request_id=caller.request_id,
            at=caller.at,
        )
        return {"id": r.id, "state": r.state}

    return await answer_value(credentials, idem, status.HTTP_200_OK, use_case)


@party_router.post("/{rights_id}/confirmation", summary="Confirm a stop-use / erasure")
async def confirm(
    rights_id: str,
    body: ConfirmationIn,
    request: Request,
    credentials: CredentialsDep,
    idem: IdempotencyDep,
) -> Response:
    mailer = request.app.state.mailer

    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        r = rr.confirm_stop_use(
            uow,
            mailer,
            caller.party,
            rights_id,
            note=body.note,
            request_id=caller.request_id,
            at=caller.at,
            gate=caller.gate,
        )
        return {"id": r.id, "state": r.state}

    return await answer_value(credentials, idem, status.HTTP_200_OK, use_case)

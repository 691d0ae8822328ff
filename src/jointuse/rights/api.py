"""HTTP routes of the customer (本人): ``/v1/me``.

=========================================  ===================================================
``POST /v1/me/enrolment``                  the bill's details and an e-mail address: a code is
                                           sent if they match a contract (same 202 if not)
``POST /v1/me/enrolment/confirm``          the code: the account, signed in (a session bearer)
``POST /v1/me/sign-in``, ``…/confirm``     a code to an account's address; the code: signed in
``POST /v1/me/sign-out``                   the session ends
``GET  /v1/me``                            the account and the contracts it proved
``GET  /v1/me/access-log``                 who used my data, and why (within my tenure)
``GET  /v1/me/consents``                   DR agreements concerning me: wording, state, evidence
``POST /v1/me/consents/{id}/code``         a new confirmation code by e-mail
``POST /v1/me/consents/{id}/confirm``      confirm a proposal with the code
``POST /v1/me/consents/{id}/decline``      decline a proposal
``POST /v1/me/consents/{id}/withdraw``     withdraw (one step, no code)
=========================================  ===================================================

Customers authenticate with ``Authorization: Bearer jc_…`` (a session); joint users' tokens
(``ju_…``) are not accepted here, nor sessions on the joint users' routes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, status
from pydantic import Field

from jointuse.core.db import UnitOfWork
from jointuse.core.http import StrictModel, run_unit
from jointuse.core.mail import Mailer
from jointuse.negawatt import consent
from jointuse.rights import service
from jointuse.rights.access_log import Filter
from jointuse.rights.identity import Account

router = APIRouter(prefix="/v1/me", tags=["customers (本人)"])
Bearer = Annotated[str | None, Header(alias="Authorization", include_in_schema=False)]


class EnrolIn(StrictModel):
    contract_number: str = Field(max_length=40, description="契約番号, as on the bill")
    supply_point_id: str = Field(max_length=64, description="供給地点特定番号, as on the bill")
    postal_code: str = Field(max_length=16, description="the supply address's postal code")
    email: str = Field(max_length=254)


class EmailIn(StrictModel):
    email: str = Field(max_length=254)


class CodeIn(StrictModel):
    email: str = Field(max_length=254)
    code: str = Field(max_length=16)


def _ctx(request: Request) -> tuple[Any, Mailer, datetime, str | None]:
    ctx = request.app.state.jointuse
    client = request.client.host if request.client else None
    return ctx.engine, request.app.state.mailer, ctx.clock(), client


SENT = {"status": "if the details match, a code is on its way to the address given"}


@router.post("/enrolment", status_code=status.HTTP_202_ACCEPTED, summary="Enrol with your bill")
async def enrol(body: EnrolIn, request: Request) -> dict[str, str]:
    engine, mailer, at, source = _ctx(request)
    await run_unit(
        engine,
        lambda: service.enrol(
            engine,
            mailer,
            at=at,
            source=source,
            contract_number=body.contract_number,
            supply_point_id=body.supply_point_id,
            postal_code=body.postal_code,
            email=body.email,
        ),
    )
    return SENT


@router.post("/sign-in", status_code=status.HTTP_202_ACCEPTED, summary="A sign-in code")
async def sign_in(body: EmailIn, request: Request) -> dict[str, str]:
    engine, mailer, at, source = _ctx(request)
    await run_unit(
        engine, lambda: service.sign_in(engine, mailer, email=body.email, at=at, source=source)
    )
    return SENT


async def _confirm(body: CodeIn, request: Request, purpose: str) -> dict[str, Any]:
    engine, _mailer, at, source = _ctx(request)
    session = await run_unit(
        engine,
        lambda: service.confirm(
            engine, email=body.email, code=body.code, purpose=purpose, at=at, source=source
        ),
    )
    return {
        "account_id": session.account.id,
        "session": session.bearer,
        "expires_at": session.expires_at.astimezone(UTC).isoformat(),
    }


@router.post("/enrolment/confirm", summary="Confirm the enrolment code: signed in")
async def confirm_enrolment(body: CodeIn, request: Request) -> dict[str, Any]:
    return await _confirm(body, request, "enrol")


@router.post("/sign-in/confirm", summary="Confirm the sign-in code: signed in")
async def confirm_sign_in(body: CodeIn, request: Request) -> dict[str, Any]:
    return await _confirm(body, request, "sign_in")


@router.post("/sign-out", summary="End this session")
async def sign_out(request: Request, authorization: Bearer = None) -> dict[str, str]:
    engine, _mailer, at, _source = _ctx(request)
    await run_unit(engine, lambda: service.sign_out(engine, authorization or "", at))
    return {"status": "signed out"}


@router.get("", summary="Your account and the contracts you proved")
async def me(request: Request, authorization: Bearer = None) -> dict[str, Any]:
    engine, _mailer, at, _source = _ctx(request)
    return await run_unit(engine, lambda: service.me(engine, authorization, at))


@router.get("/access-log", summary="Who used my data, and why (利用履歴)")
async def access_log(
    request: Request,
    authorization: Bearer = None,
    purpose: Annotated[str | None, Query(max_length=64)] = None,
    party: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    engine, _mailer, at, _source = _ctx(request)
    policy = request.app.state.jointuse.gate.policy
    where = Filter(purpose=purpose, party=party, since=since, until=until)
    rid = getattr(request.state, "request_id", None) or "access-log"
    return await run_unit(
        engine, lambda: service.my_access_log(engine, authorization, at, policy, where, rid)
    )


class ConsentCodeIn(StrictModel):
    code: str = Field(max_length=16, description="the code from the e-mail")


AgreementId = Annotated[str, Path(max_length=64, pattern=r"[A-Za-z0-9._:-]{1,64}")]


def _consent_result(a: Any) -> dict[str, Any]:
    return {"agreement_id": a.agreement_id, "state": a.state}


@router.get("/consents", summary="DR agreements concerning me (需要抑制契約への同意)")
async def consents(request: Request, authorization: Bearer = None) -> dict[str, Any]:
    engine, _mailer, at, _source = _ctx(request)
    return await run_unit(
        engine,
        lambda: service.as_customer(
            engine,
            authorization,
            at,
            lambda uow, account: {"consents": consent.my_consents(uow.connection, account)},
        ),
    )


@router.post(
    "/consents/{agreement_id}/code",
    status_code=status.HTTP_202_ACCEPTED,
    summary="A new confirmation code by e-mail",
)
async def consent_code(
    agreement_id: AgreementId, request: Request, authorization: Bearer = None
) -> dict[str, str]:
    engine, mailer, at, _source = _ctx(request)
    await run_unit(
        engine,
        lambda: service.as_customer(
            engine,
            authorization,
            at,
            lambda uow, account: consent.send_code(
                uow, mailer, account=account, agreement_id=agreement_id, at=at
            ),
        ),
    )
    return {"status": "a code is on its way to your address"}


async def _consent_step(
    request: Request,
    authorization: str | None,
    step: Callable[[UnitOfWork, Account, datetime, str | None], Any],
) -> dict[str, Any]:
    """Run one of the customer's steps on a DR agreement in a unit of work of its own."""
    engine, _mailer, at, _source = _ctx(request)
    rid = getattr(request.state, "request_id", None)
    a = await run_unit(
        engine,
        lambda: service.as_customer(
            engine, authorization, at, lambda uow, account: step(uow, account, at, rid)
        ),
    )
    return _consent_result(a)


@router.post("/consents/{agreement_id}/confirm", summary="Confirm a DR agreement with the code")
async def consent_confirm(
    agreement_id: AgreementId, body: ConsentCodeIn, request: Request, authorization: Bearer = None
) -> dict[str, Any]:
    return await _consent_step(
        request,
        authorization,
        lambda uow, account, at, rid: consent.confirm(
            uow, account=account, agreement_id=agreement_id, code=body.code, at=at, request_id=rid
        ),
    )


@router.post("/consents/{agreement_id}/decline", summary="Decline a proposed DR agreement")
async def consent_decline(
    agreement_id: AgreementId, request: Request, authorization: Bearer = None
) -> dict[str, Any]:
    return await _consent_step(
        request,
        authorization,
        lambda uow, account, at, rid: consent.decline(
            uow, account=account, agreement_id=agreement_id, at=at, request_id=rid
        ),
    )


@router.post("/consents/{agreement_id}/withdraw", summary="Withdraw a DR agreement (one step)")
async def consent_withdraw(
    agreement_id: AgreementId, request: Request, authorization: Bearer = None
) -> dict[str, Any]:
    return await _consent_step(
        request,
        authorization,
        lambda uow, account, at, rid: consent.withdraw(
            uow, account=account, agreement_id=agreement_id, at=at, request_id=rid
        ),
    )

"""HTTP routes of the usage inquiry by consent (使用量情報照会), :mod:`jointuse.usage.inquiry`.

=================================================  =============================================
``GET  /v1/me/usage-consents``                     the customer's consents and their provisions
``POST /v1/me/usage-consents``                     consent that a retailer reads my usage for 1,
                                                   7 or 31 days: the password (shown once, and
                                                   e-mailed)
``POST /v1/me/usage-consents/{id}/withdraw``       withdraw it (one step)
``POST /v1/usage-inquiries``                       a retailer's inquiry with the customer's
                                                   password (purpose ``C1_usage_inquiry``)
=================================================  =============================================

The customer's routes take a customer session (``Bearer jc_…``); the inquiry a joint user's
token. Every refusal is on the ledger.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, status
from pydantic import Field

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import ValidationError
from jointuse.core.http import Caller, Credentials, StrictModel, request_credentials, run_unit
from jointuse.customers import service as customers
from jointuse.rights import service as rights
from jointuse.rights.identity import Account
from jointuse.usage import inquiry

router = APIRouter(prefix="/v1", tags=["usage inquiry (使用量情報照会)"])
Bearer = Annotated[str | None, Header(alias="Authorization", include_in_schema=False)]
CredentialsDep = Annotated[Credentials, Depends(request_credentials)]
ConsentId = Annotated[str, Path(max_length=36, pattern=r"[A-Za-z0-9-]{1,36}")]


class ConsentIn(StrictModel):
    supply_point_id: str = Field(max_length=64, description="供給地点特定番号 of your contract")
    retailer: str = Field(max_length=64, description="the party code of the retailer")
    valid_days: int = Field(description="1, 7 or 31")


class InquiryIn(StrictModel):
    supply_point_id: str = Field(max_length=64)
    password: str = Field(max_length=64, description="the password the customer gave you")


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


@router.get("/me/usage-consents", summary="My usage-inquiry consents and their provisions")
async def my_consents(request: Request, authorization: Bearer = None) -> dict[str, Any]:
    engine = request.app.state.jointuse.engine
    at = request.app.state.jointuse.clock()

    def run(uow: UnitOfWork, account: Account) -> dict[str, Any]:
        return {"consents": inquiry.my_consents(uow.connection, account, at)}

    return await run_unit(engine, lambda: rights.as_customer(engine, authorization, at, run))


@router.post(
    "/me/usage-consents",
    status_code=status.HTTP_201_CREATED,
    summary="Consent that a retailer reads my usage (使用量情報照会への同意)",
)
async def issue_consent(
    body: ConsentIn, request: Request, authorization: Bearer = None
) -> dict[str, Any]:
    engine = request.app.state.jointuse.engine
    at = request.app.state.jointuse.clock()
    mailer = getattr(request.app.state, "mailer", None)
    rid = _rid(request)

    def run(uow: UnitOfWork, account: Account) -> dict[str, Any]:
        consent, password = inquiry.issue(
            uow,
            mailer,
            account=account,
            supply_point_id=body.supply_point_id,
            retailer_code=body.retailer,
            valid_days=body.valid_days,
            at=at,
            request_id=rid,
        )
        return {**inquiry.consent_json(consent, at), "password": password}

    return await run_unit(engine, lambda: rights.as_customer(engine, authorization, at, run))


@router.post("/me/usage-consents/{consent_id}/withdraw", summary="Withdraw a consent (one step)")
async def withdraw_consent(
    consent_id: ConsentId, request: Request, authorization: Bearer = None
) -> dict[str, Any]:
    engine = request.app.state.jointuse.engine
    at = request.app.state.jointuse.clock()
    rid = _rid(request)

    def run(uow: UnitOfWork, account: Account) -> dict[str, Any]:
        c = inquiry.withdraw(uow, account=account, consent_id=consent_id, at=at, request_id=rid)
        return inquiry.consent_json(c, at)

    return await run_unit(engine, lambda: rights.as_customer(engine, authorization, at, run))


@router.post("/usage-inquiries", summary="A usage inquiry with the customer's password")
async def usage_inquiry(body: InquiryIn, credentials: CredentialsDep) -> dict[str, Any]:
    """Up to 13 months of the customer's half-hourly usage (their own tenure only), with the
    password of their consent; the provision is recorded (APPI Art. 29)."""

    def run(uow: UnitOfWork, c: Caller) -> dict[str, Any]:
        if c.purpose not in (None, inquiry.PURPOSE):
            raise ValidationError(
                f"usage inquiries serve {inquiry.PURPOSE}, not {c.purpose}",
                field="Jointuse-Purpose",
                valid=[inquiry.PURPOSE],
            )
        return inquiry.inquire(
            uow,
            c.gate,
            actor=c.party,
            supply_point_id=body.supply_point_id,
            password=body.password,
            request_id=c.request_id,
            at=c.at,
        )

    return await run_unit(
        credentials.engine,
        customers.as_caller,
        credentials.engine,
        credentials.authenticate,
        run,
    )

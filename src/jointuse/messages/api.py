"""HTTP routes of the messages area: the inbox and the webhook.

=================================  ============================================================
route                              what
=================================  ============================================================
``GET    /v1/inbox``               your messages after a cursor, oldest first, unacknowledged
                                   only unless ``include_acked=true``; ``kind=`` filters
``POST   /v1/inbox/ack``           acknowledge your messages by ID (twice is harmless)
``PUT    /v1/webhooks``            register (201) or replace (200) your endpoint; the answer
                                   shows the new signing secret, once
``GET    /v1/webhooks``            your endpoint and its delivery state (no secret)
``DELETE /v1/webhooks``            remove it (204); messages stay in the inbox
=================================  ============================================================

A party reaches its own inbox and webhook only (authenticated as itself; 401 otherwise).
Messages hold references and states, not personal data, so reading them is not an access
through the gate (what they refer to is); a message ID that is not yours is a 404, as an
unknown one, and not on the access ledger (it decides on no personal data). The writes take an
``Idempotency-Key`` (:mod:`jointuse.messages.idempotency_http`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from jointuse.core.db import UnitOfWork
from jointuse.core.http import MAX_DB_INT, Caller, Credentials, request_credentials, run_unit
from jointuse.customers.service import as_caller
from jointuse.messages import service, webhooks
from jointuse.messages.idempotency_http import (
    Answer,
    IdempotencyDep,
    answer,
    messages_settings,
)
from jointuse.messages.schemas import AckIn, AckOut, InboxOut, WebhookIn, WebhookOut

router = APIRouter(prefix="/v1", tags=["inbox and webhooks"])
CredentialsDep = Annotated[Credentials, Depends(request_credentials)]


@router.get(
    "/inbox",
    response_model=InboxOut,
    summary="Your messages after a cursor, oldest first (unacknowledged only by default)",
)
async def peek(
    credentials: CredentialsDep,
    after: Annotated[int, Query(ge=0, le=MAX_DB_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PEEK)] = 100,
    kind: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_]{1,32}$")] = None,
    include_acked: bool = False,
) -> dict[str, Any]:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        found = service.peek(
            uow.connection,
            caller.party.code,
            after=after,
            limit=limit,
            kind=kind,
            include_acked=include_acked,
        )
        return {
            "messages": [m.as_dict() for m in found],
            "next_after": found[-1].id if found else after,
        }

    return await run_unit(
        credentials.engine, as_caller, credentials.engine, credentials.authenticate, use_case
    )


@router.post(
    "/inbox/ack",
    response_model=AckOut,
    summary="Acknowledge your messages (twice is harmless; another party's ID is 404)",
)
async def ack(body: AckIn, credentials: CredentialsDep, idem: IdempotencyDep) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> Answer:
        n = service.acknowledge(uow.connection, caller.party.code, body.ids, at=caller.at)
        return Answer(200, {"acknowledged": n})

    return await answer(credentials, idem, use_case)


@router.put(
    "/webhooks",
    response_model=WebhookOut,
    summary="Register (201) or replace (200) your webhook; the answer shows its secret once",
    responses={201: {"model": WebhookOut, "description": "Registered"}},
)
async def put_webhook(
    body: WebhookIn, request: Request, credentials: CredentialsDep, idem: IdempotencyDep
) -> Response:
    allow_http = messages_settings(request).webhook_allow_http

    def use_case(uow: UnitOfWork, caller: Caller) -> Answer:
        view, created = webhooks.register(
            uow.connection,
            party=caller.party.code,
            url=body.url,
            at=caller.at,
            allow_http=allow_http,
        )
        return Answer(status.HTTP_201_CREATED if created else status.HTTP_200_OK, view)

    return await answer(credentials, idem, use_case)


@router.get(
    "/webhooks",
    response_model=WebhookOut,
    summary="Your webhook and its delivery state: pending, attempts, last error, failures",
)
async def get_webhook(credentials: CredentialsDep) -> dict[str, Any]:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        return webhooks.status(uow.connection, party=caller.party.code)

    return await run_unit(
        credentials.engine, as_caller, credentials.engine, credentials.authenticate, use_case
    )


@router.delete(
    "/webhooks",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Remove your webhook (its messages stay in your inbox)",
)
async def delete_webhook(credentials: CredentialsDep, idem: IdempotencyDep) -> Response:
    def use_case(uow: UnitOfWork, caller: Caller) -> Answer:
        webhooks.unregister(uow.connection, party=caller.party.code)
        return Answer(status.HTTP_204_NO_CONTENT, None)

    return await answer(credentials, idem, use_case)

"""HTTP routes of the inbox: ``GET /v1/inbox`` (peek), ``POST /v1/inbox/ack`` (acknowledge).

A party reads its own inbox only (authenticated as itself). Messages hold references and states,
not personal data, so reading them is not an access through the gate; what they refer to is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from jointuse.core.db import UnitOfWork
from jointuse.core.http import (
    MAX_DB_INT,
    Caller,
    Credentials,
    RowId,
    StrictModel,
    request_credentials,
    run_unit,
)
from jointuse.customers.service import as_caller
from jointuse.messages import service

router = APIRouter(prefix="/v1", tags=["inbox"])
CredentialsDep = Annotated[Credentials, Depends(request_credentials)]


class AckIn(StrictModel):
    ids: list[RowId] = Field(min_length=1, max_length=service.MAX_PEEK)


@router.get("/inbox", summary="Your messages after a cursor, oldest first (unacknowledged only)")
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


@router.post("/inbox/ack", summary="Acknowledge your messages (twice is harmless)")
async def ack(body: AckIn, credentials: CredentialsDep) -> dict[str, Any]:
    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        n = service.acknowledge(uow.connection, caller.party.code, body.ids, at=caller.at)
        return {"acknowledged": n}

    return await run_unit(
        credentials.engine, as_caller, credentials.engine, credentials.authenticate, use_case
    )

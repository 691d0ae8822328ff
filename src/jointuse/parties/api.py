"""HTTP routes of the parties registry: the public list of joint users (共同利用者の範囲).

The registry is public information (the joint-use notice itself names the parties), so these
routes need no credentials and touch no personal data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from jointuse.core.http import ApiContext, api_context
from jointuse.parties import service
from jointuse.parties.model import PartyKind
from jointuse.parties.schemas import PartyList, PartyOut

router = APIRouter(prefix="/v1/parties", tags=["parties"])

Context = Annotated[ApiContext, Depends(api_context)]


@router.get("", response_model=PartyList, summary="List the registered joint users")
def list_parties(
    ctx: Context,
    kind: Annotated[
        PartyKind | None, Query(description="Only parties of this kind (retailer, tso, …).")
    ] = None,
) -> PartyList:
    parties = service.list_parties(ctx.engine, kind=kind)
    return PartyList(parties=[PartyOut(**service.public_view(p)) for p in parties])


@router.get("/{code}", response_model=PartyOut, summary="One joint user by its code")
def get_party(ctx: Context, code: str) -> PartyOut:
    return PartyOut(**service.public_view(service.get_party(ctx.engine, code)))

"""HTTP route of the ledger for auditors: ``GET /v1/audit/anomalies``.

A user with the role ``auditor`` reads the anomaly report of their own party's people
(:mod:`jointuse.ledger.anomalies`) over a period (``since``/``until``, default the last 7 days;
thresholds as for ``jointuse ledger anomalies``). Anyone else is refused (403
``role_not_permitted``), on the ledger; producing the report is on the ledger too.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import ValidationError
from jointuse.core.http import Caller, Credentials, request_credentials, run_unit
from jointuse.customers.service import as_caller
from jointuse.ledger import anomalies as an

router = APIRouter(prefix="/v1/audit", tags=["auditors (監査)"])
CredentialsDep = Annotated[Credentials, Depends(request_credentials)]


@router.get("/anomalies", summary="Anomalies per person of your party (auditors)")
async def anomalies(
    credentials: CredentialsDep, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    thresholds = an.thresholds_from(os.environ)
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValidationError(
                f"{name} needs a time zone", field=name, valid="e.g. 2026-12-01T00:00+09:00"
            )

    def use_case(uow: UnitOfWork, caller: Caller) -> dict[str, Any]:
        end = until or caller.at.astimezone(UTC)
        start = since or end - timedelta(days=7)
        report = an.auditors_report(
            uow,
            actor=caller.party,
            since=start,
            until=end,
            thresholds=thresholds,
            request_id=caller.request_id,
        )
        return report.as_dict()

    result: dict[str, Any] = await run_unit(
        credentials.engine, as_caller, credentials.engine, credentials.authenticate, use_case
    )
    return result

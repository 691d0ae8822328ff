"""The retailer's bulk filing of switches from a CSV file in the console
(``/console/filings/csv``): the same columns, decoding (UTF-8 or Shift_JIS), row limit and
use case as ``POST /v1/switches/csv`` (:func:`jointuse.flows.service.parse_switch_csv`,
:func:`jointuse.flows.service.run_rows`: each row in a unit of work of its own, filed through the
gate — its refusals on the ledger — and a result per row shown on the page)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Connection
from starlette.datastructures import UploadFile

from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, ValidationError
from jointuse.core.http import run_unit
from jointuse.flows import service as flows
from jointuse.flows.filing import Filed, SwitchFiling, file_switch
from jointuse.policy.engine import Party
from jointuse.web.common import SESSION_COOKIE, engine_of, error_page, form_of, now, render
from jointuse.web.console import _as_party, _rid, s_gate
from jointuse.webauth import service as sessions
from jointuse.webauth.service import WebSession

router = APIRouter(prefix="/console/filings", include_in_schema=False)
PURPOSE = "P2_cancellation_forwarding"
MAX_ROWS = 1000  # as POST /v1/switches/csv


@dataclass(frozen=True, slots=True)
class _Filer:
    """The signed-in retailer as each row's unit of work sees it."""

    party: Party
    at: datetime


def _row(f: SwitchFiling, gate: Any, request_id: str) -> Any:
    def use_case(uow: UnitOfWork, filer: _Filer) -> Filed:
        return file_switch(
            uow, gate=gate, actor=filer.party, filing=f, request_id=request_id, at=filer.at
        )

    return use_case


def _page(
    request: Request,
    session: WebSession,
    *,
    results: Any = None,
    error: ValidationError | None = None,
) -> Response:
    field = error.details.get("field") if error is not None else None
    return render(
        request,
        "console_filings.html",
        status=error.status if error is not None else 200,
        session=session,
        columns=flows.SWITCH_CSV_COLUMNS,
        results=results,
        max_rows=MAX_ROWS,
        error=f"{field}: {error.message}" if error is not None else None,
        error_field=field,
    )


@router.get("/csv")
async def upload_form(request: Request) -> Response:
    try:
        session, _ = await _as_party(request, lambda uow, s, p: None, kind="retailer")
    except JointuseError as exc:
        return error_page(request, exc)
    return _page(request, session)


@router.post("/csv")
async def upload(request: Request) -> Response:
    """File each row of the uploaded CSV as a switch; the page shows a result per row."""
    form = await form_of(request)
    raw = await request.form()
    upload = raw.get("file")
    try:
        session, _ = await _as_party(
            request, lambda uow, s, p: None, form=form, kind="retailer", purpose=PURPOSE
        )
    except JointuseError as exc:
        return error_page(request, exc)
    at = now(request)
    engine = engine_of(request)
    rid = _rid(request)
    gate = s_gate(request)
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationError("choose a CSV file", field="file", valid="a .csv file")
        parsed = flows.parse_switch_csv(flows.decode_csv(await upload.read()))
        if not parsed or len(parsed) > MAX_ROWS:
            raise ValidationError(
                f"{len(parsed)} rows; 1 to {MAX_ROWS} per file",
                field="file",
                valid=f"1–{MAX_ROWS} rows",
            )
    except ValidationError as exc:
        return _page(request, session, error=exc)
    cookie = request.cookies.get(SESSION_COOKIE)

    def authenticate(conn: Connection) -> _Filer:
        return _Filer(sessions.party_of(cookie, at)(conn), at)

    rows = [p if isinstance(p, ValidationError) else _row(p, gate, rid) for p in parsed]
    results = await run_unit(engine, flows.run_rows, engine, authenticate, rows, None)
    filed = sum(1 for r in results if r.status == 201)
    return _page(
        request,
        session,
        results={
            "filed": filed,
            "refused": len(results) - filed,
            "rows": [asdict(r) for r in results],
        },
    )

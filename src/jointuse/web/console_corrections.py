"""The console's rights requests addressed to the signed-in party.

Correction requests (訂正, APPI Art. 34) (``/console/corrections``): those routed to the party
as the controller (管理責任者) of the item's category — listed without personal data
(:func:`jointuse.rights.requests_service.addressed`), read one at a time
(:func:`jointuse.rights.requests.party_view`: on the ledger), accepted (the correction applied
through the gate, :func:`jointuse.rights.requests.accept_correction`) or refused with reasons
(:func:`jointuse.rights.requests.refuse_correction`) — the same use cases as
``/v1/rights-requests/{id}/acceptance`` and ``…/refusal``. A request not addressed to the party
is refused as unknown (404), on the ledger; so is a step its state does not allow (409).

Stop-use / erasure requests (利用停止・消去, Art. 35) (``/console/stop-use``): those propagated to
the party as a holder of the customer's data — listed, read one at a time (on the ledger), and
confirmed once the party has stopped using or erased the data
(:func:`jointuse.rights.requests.confirm_stop_use`, as ``…/confirmation``); the request completes
when every holder has confirmed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, ValidationError
from jointuse.policy.engine import Party
from jointuse.rights import requests as rr
from jointuse.rights import requests_service as service
from jointuse.web.common import error_page, form_of, lang_of, now, redirect, render
from jointuse.web.console import _as_party, _rid, s_gate
from jointuse.webauth.service import WebSession

router = APIRouter(prefix="/console/corrections", include_in_schema=False)
stop_use_router = APIRouter(prefix="/console/stop-use", include_in_schema=False)
PURPOSE = "subject:correction"
STOP_USE = "subject:stop_use"
MAX_REASONS = 10


def _day(text: str | None) -> str:
    if not text:
        return ""
    return datetime.fromisoformat(text).astimezone(JST).strftime("%Y-%m-%d")


def _item_labels(request: Request) -> dict[str, str]:
    lang = lang_of(request)
    return {
        i.key: (i.label_ja if lang == "ja" else i.label_en) for i in s_gate(request).policy.items
    }


@router.get("")
async def corrections(request: Request) -> Response:
    at = now(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> list[dict[str, Any]]:
        return service.addressed(uow, party, at=at, kind="correction")

    try:
        session, found = await _as_party(request, use_case, purpose=PURPOSE)
    except JointuseError as exc:
        return error_page(request, exc)
    for r in found:
        r["received_day"], r["due_day"] = _day(r["received_at"]), _day(r["due_at"])
    return render(
        request,
        "console_corrections.html",
        session=session,
        pending=[r for r in found if r["your_state"] == "pending"],
        answered=[r for r in found if r["your_state"] != "pending"],
        item_labels=_item_labels(request),
    )


@router.get("/{rights_id}")
async def correction(rights_id: str, request: Request) -> Response:
    """One request addressed to the party: what to correct, to what, why (on the ledger)."""
    at = now(request)
    rid = _rid(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        return rr.party_view(uow, s_gate(request), party, rights_id[:64], request_id=rid, at=at)

    try:
        session, r = await _as_party(request, use_case, purpose=PURPOSE)
    except JointuseError as exc:
        return error_page(request, exc)
    r["received_day"], r["due_day"] = _day(r["received_at"]), _day(r["due_at"])
    return render(
        request,
        "console_correction.html",
        session=session,
        r=r,
        item_labels=_item_labels(request),
        open=r["kind"] == "correction" and r["state"] == "routed" and r["your_state"] == "pending",
    )


def _reasons(text: str) -> list[str]:
    reasons = [line.strip() for line in text.splitlines() if line.strip()]
    if not reasons or len(reasons) > MAX_REASONS or any(len(r) > 500 for r in reasons):
        raise ValidationError(
            "give the reasons, one a line",
            field="reasons",
            valid=f"1–{MAX_REASONS} lines of up to 500 characters",
        )
    return reasons


@router.post("/{rights_id}/{step}")
async def answer(rights_id: str, step: str, request: Request) -> Response:
    """Accept (applied through the gate) or refuse with reasons; the customer is told."""
    form = await form_of(request)
    if step not in ("acceptance", "refusal"):
        return error_page(
            request,
            ValidationError(
                f"no such step {step[:20]!r}", field="step", valid="acceptance, refusal"
            ),
        )
    at = now(request)
    rid = _rid(request)
    mailer = request.app.state.mailer

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> None:
        if step == "acceptance":
            rr.accept_correction(
                uow, s_gate(request), mailer, party, rights_id[:64], request_id=rid, at=at
            )
        else:
            rr.refuse_correction(
                uow,
                mailer,
                party,
                rights_id[:64],
                reasons=_reasons(form.get("reasons", "")),
                request_id=rid,
                at=at,
            )

    try:
        await _as_party(request, use_case, form=form, purpose=PURPOSE, action="write")
    except JointuseError as exc:
        return error_page(request, exc)
    return redirect(f"/console/corrections/{rights_id[:64]}")


# --- stop-use / erasure (the holders) ----------------------------------------------------------


@stop_use_router.get("")
async def stop_use_requests(request: Request) -> Response:
    at = now(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> list[dict[str, Any]]:
        return service.addressed(uow, party, at=at, kind="stop_use")

    try:
        session, found = await _as_party(request, use_case, purpose=STOP_USE)
    except JointuseError as exc:
        return error_page(request, exc)
    for r in found:
        r["received_day"], r["due_day"] = _day(r["received_at"]), _day(r["due_at"])
    return render(
        request,
        "console_stop_use.html",
        session=session,
        pending=[r for r in found if r["your_state"] == "pending"],
        answered=[r for r in found if r["your_state"] != "pending"],
    )


@stop_use_router.get("/{rights_id}")
async def stop_use_request(rights_id: str, request: Request) -> Response:
    """One request propagated to the party: which record, on what ground, what to do (on the
    ledger)."""
    at = now(request)
    rid = _rid(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        return rr.party_view(uow, s_gate(request), party, rights_id[:64], request_id=rid, at=at)

    try:
        session, r = await _as_party(request, use_case, purpose=STOP_USE)
    except JointuseError as exc:
        return error_page(request, exc)
    r["received_day"], r["due_day"] = _day(r["received_at"]), _day(r["due_at"])
    return render(
        request,
        "console_stop_use_one.html",
        session=session,
        r=r,
        open=r["kind"] == "stop_use"
        and r["state"] == "propagated"
        and r["your_state"] == "pending",
    )


@stop_use_router.post("/{rights_id}/confirmation")
async def confirm(rights_id: str, request: Request) -> Response:
    """The party confirms it has stopped using or erased the data (with an optional note)."""
    form = await form_of(request)
    at = now(request)
    rid = _rid(request)
    mailer = request.app.state.mailer
    note = form.get("note", "").strip()

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> None:
        if len(note) > 500:
            raise ValidationError("the note is too long", field="note", valid="up to 500")
        rr.confirm_stop_use(
            uow,
            mailer,
            party,
            rights_id[:64],
            note=note or None,
            request_id=rid,
            at=at,
            gate=s_gate(request),
        )

    try:
        await _as_party(request, use_case, form=form, purpose=STOP_USE, action="write")
    except JointuseError as exc:
        return error_page(request, exc)
    return redirect(f"/console/stop-use/{rights_id[:64]}")

"""The customer portal's rights pages (本人):

* "My requests" (``/my/requests``): ask for disclosure (開示: JSON, CSV or PDF), a correction
  (訂正: the item, the corrected value, the reason) or to stop use / erase (利用停止・消去: the
  Art. 35 ground); my requests with their state, deadline and outcome; the disclosure's download
  when ready (``/my/requests/{id}/download``: the request's ID in the URL, nothing personal).
  Through the same use cases as ``/v1/me/requests``
  (:mod:`jointuse.rights.requests_service`): each step on the ledger, another customer's
  request refused as unknown (404), on the ledger.
* "My points and contracts" (``/my/contracts``): the supply points of my records and my retail
  contracts there over time, within my own tenure (:func:`jointuse.rights.contracts.my_points`,
  through the gate's subject door: each view on the ledger).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, ValidationError
from jointuse.rights import requests as rr
from jointuse.rights import requests_service as service
from jointuse.rights.contracts import my_points
from jointuse.rights.disclosure import MEDIA_TYPES
from jointuse.web.common import (
    SECURITY_HEADERS,
    engine_of,
    error_page,
    form_of,
    in_session,
    lang_of,
    now,
    redirect,
    render,
)
from jointuse.webauth import service as sessions
from jointuse.webauth.service import WebSession

router = APIRouter(include_in_schema=False)

#: The items a customer corrects here: (category, item), basic first.
CORRECTABLE = [("basic", i) for i in ("name", "address", "phone")] + [
    ("supply_point", i) for i in sorted(rr.CORRECTABLE_POINT_ITEMS)
]
_BOOLEAN_ITEMS = frozenset({"remote_island_tariff", "grid_connected_generation"})
#: Stop-use grounds offered here (withdrawing a DR consent is on "my consents").
GROUNDS = [g for g in rr.STOP_USE_GROUNDS if g != "consent_withdrawn"]
ACTIONS = ("stop_use", "erasure", "stop_provision")


def _rid(request: Request, fallback: str) -> str:
    return getattr(request.state, "request_id", None) or fallback


def _customer(session: WebSession) -> Any:
    if session.account is None:
        raise sessions.SessionEnded("not a customer's session", reason="session_ended")
    return session.account


def _day(text: str | None) -> str:
    if not text:
        return ""
    return datetime.fromisoformat(text).astimezone(JST).strftime("%Y-%m-%d")


def _names(request: Request) -> dict[str, tuple[str, str]]:
    return service.party_names(engine_of(request))


def _decorate(r: dict[str, Any], lang: str, names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The request's view with what the page shows in ``lang``: days in JST, party names."""
    r["received_day"] = _day(r["received_at"])
    r["due_day"] = _day(r["due_at"])
    r["completed_day"] = _day(r.get("completed_at"))
    for p in r.get("parties", []):
        ja, en = names.get(p["party"], (p["party"], p["party"]))
        p["name"] = ja if lang == "ja" else en
    for s in r.get("steps", []):
        s["day"] = datetime.fromisoformat(s["at"]).astimezone(JST).strftime("%Y-%m-%d %H:%M")
    outcome = r.get("outcome") or {}
    controller = outcome.get("controller")
    if controller:
        ja, en = names.get(controller, (controller, controller))
        outcome["controller_name"] = ja if lang == "ja" else en
    return r


def _item_labels(request: Request, lang: str) -> dict[str, str]:
    policy = request.app.state.jointuse.gate.policy
    return {i.key: (i.label_ja if lang == "ja" else i.label_en) for i in policy.items}


async def _requests_page(
    request: Request,
    *,
    error: JointuseError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    at = now(request)
    lang = lang_of(request)
    names = _names(request)

    def read(uow: UnitOfWork, session: WebSession) -> dict[str, Any]:
        account = _customer(session)
        return {
            "requests": service.requests_of(uow, account, at)["requests"],
            "points": service.points_of(uow, account),
        }

    try:
        session, found = await in_session(request, read)
    except JointuseError as exc:
        return error_page(request, exc)
    rows = sorted(
        (_decorate(r, lang, names) for r in found["requests"]),
        key=lambda r: r["received_at"],
        reverse=True,
    )
    return render(
        request,
        "my_requests.html",
        status=error.status if error is not None else 200,
        session=session,
        requests=rows,
        points=found["points"],
        formats=rr.FORMATS,
        correctable=CORRECTABLE,
        item_labels=_item_labels(request, lang),
        grounds=[(g, rr.STOP_USE_GROUNDS[g][0 if lang == "ja" else 1]) for g in GROUNDS],
        actions=ACTIONS,
        error=error.message if error is not None else None,
        error_field=error.details.get("field") if isinstance(error, ValidationError) else None,
        values=values or {},
        made=request.query_params.get("made") == "1",
    )


@router.get("/my/requests")
async def requests_page(request: Request) -> Response:
    return await _requests_page(request)


def _value(category: str, item: str, form: dict[str, str]) -> Any:
    """The corrected value from the form, in the shape the request takes."""
    text = form.get("value", "").strip()
    if category == "basic" and item == "address":
        return {
            "postal_code": form.get("postal_code", "").strip(),
            "prefecture": form.get("prefecture", "").strip(),
            "rest": form.get("address_rest", "").strip(),
        }
    if category == "supply_point":
        if item in _BOOLEAN_ITEMS:
            if text.lower() in ("true", "yes", "1", "はい", "あり"):
                return True
            if text.lower() in ("false", "no", "0", "いいえ", "なし"):
                return False
            raise ValidationError(
                f"{item} is yes or no", field="value", valid=["はい / yes", "いいえ / no"]
            )
        if text.isascii() and text.isdigit():
            return int(text)
    if not text:
        raise ValidationError("give the corrected value", field="value", valid="1–64 characters")
    return text


def _fields(kind: str, form: dict[str, str]) -> dict[str, Any]:
    point = form.get("supply_point_id") or None
    reason = form.get("reason", "")
    if len(reason) > 1000:
        raise ValidationError("the reason is too long", field="reason", valid="up to 1000")
    if kind == "disclosure":
        return {"format": form.get("format", "json")}
    if kind == "correction":
        category, _sep, item = form.get("item", "").partition(":")
        if (category, item) not in CORRECTABLE:
            raise ValidationError(
                "choose the item to correct",
                field="item",
                valid=[f"{c}:{i}" for c, i in CORRECTABLE],
            )
        return {
            "supply_point_id": point,
            "category": category,
            "item": item,
            "value": _value(category, item, form),
            "reason": reason,
        }
    action = form.get("action", "stop_use")
    if action not in ACTIONS:
        raise ValidationError("choose what to ask for", field="action", valid=list(ACTIONS))
    return {
        "supply_point_id": point,
        "ground": form.get("ground", ""),
        "action": action,
        "reason": reason,
    }


_KINDS = {"disclosure": "disclosure", "correction": "correction", "stop-use": "stop_use"}


@router.post("/my/requests/{kind}")
async def submit(kind: str, request: Request) -> Response:
    """A new request of the signed-in customer (the form carries the session's CSRF token)."""
    form = await form_of(request)
    if kind not in _KINDS:
        return error_page(request, ValidationError(f"no such request {kind[:20]!r}", field="kind"))
    at = now(request)
    gate = request.app.state.jointuse.gate

    def act(uow: UnitOfWork, session: WebSession) -> dict[str, Any]:
        return service.submit_for(
            uow, _customer(session), gate, at, _KINDS[kind], _fields(_KINDS[kind], form)
        )

    try:
        _s, made = await in_session(request, act, form=form)
    except ValidationError as exc:
        values = {k: v for k, v in form.items() if k != "csrf"}
        return await _requests_page(request, error=exc, values=values)
    except JointuseError as exc:
        return error_page(request, exc)
    return redirect(f"/my/requests/{made['id']}?made=1")


@router.get("/my/requests/{rights_id}")
async def request_page(rights_id: str, request: Request) -> Response:
    at = now(request)
    lang = lang_of(request)
    names = _names(request)
    rid = _rid(request, "web-my-request")

    def read(uow: UnitOfWork, session: WebSession) -> dict[str, Any]:
        return service.request_of(uow, _customer(session), at, rights_id[:64], rid)

    try:
        session, found = await in_session(request, read)
    except JointuseError as exc:
        return error_page(request, exc)
    return render(
        request,
        "my_request.html",
        session=session,
        r=_decorate(found, lang, names),
        item_labels=_item_labels(request, lang),
        made=request.query_params.get("made") == "1",
    )


@router.get("/my/requests/{rights_id}/download")
async def download(rights_id: str, request: Request) -> Response:
    """The disclosure document, when ready (its type as the API serves it; no-store)."""
    rid = _rid(request, rights_id[:64])

    def read(uow: UnitOfWork, session: WebSession) -> tuple[str, bytes]:
        return service.document_for(uow, _customer(session), rights_id[:64], rid)

    try:
        _s, (fmt, document) = await in_session(request, read)
    except JointuseError as exc:
        return error_page(request, exc)
    response = Response(
        document,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="disclosure-{rights_id}.{fmt}"'},
    )
    for k, v in SECURITY_HEADERS.items():
        response.headers[k] = v
    return response


@router.get("/my/contracts")
async def contracts_page(request: Request) -> Response:
    """My supply points and my contracts there over time, within my tenure (each view through
    the gate's subject door, on the ledger)."""
    at = now(request)
    lang = lang_of(request)
    names = _names(request)
    gate = request.app.state.jointuse.gate
    rid = _rid(request, "web-my-contracts")

    def read(uow: UnitOfWork, session: WebSession) -> list[dict[str, Any]]:
        return my_points(uow, gate, _customer(session), party_names=names, at=at, request_id=rid)

    try:
        session, points = await in_session(request, read)
    except JointuseError as exc:
        return error_page(request, exc)
    for point in points:
        for c in point["contracts"]:
            c["retailer_name"] = c["retailer_name_ja"] if lang == "ja" else c["retailer_name_en"]
    return render(
        request,
        "my_contracts.html",
        session=session,
        points=points,
        item_labels=_item_labels(request, lang),
        shown_items=(
            "supply_area",
            "service_menu",
            "supply_method",
            "current_limit",
            "contract_state",
            "meter_reading_day",
        ),
    )

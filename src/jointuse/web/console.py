"""The console of the joint users: sign in with the party's API token (exchanged for a console
session, :func:`jointuse.webauth.service.open_party`), then by kind of party —

* retailer: the 廃止取次 inbox (those addressed to it, awaiting judgement); a forwarding read
  through the gate (P2) with the automatic match shown field by field
  (:func:`jointuse.flows.preview.preview_judgement`), judged OK, NG with reasons, or as the
  automatic judgement (:func:`jointuse.flows.steps.judge_forwarding`); its filings and states;
* auditor (a user with the role ``auditor``, or a party listed in ``JOINTUSE_WEB_AUDITORS``):
  the ledger's signed checkpoints and a verification run on demand
  (:func:`jointuse.ledger.auditing.verify`); the search, the anomaly report and incident scoping
  are in :mod:`.console_audit`;
* DR contractor: :mod:`.console_dr`; a party's administrator: :mod:`.console_admin`;
* TSO: its work orders (open, widen, assign field staff, close: :mod:`jointuse.workorders.service`,
  :mod:`jointuse.workorders.staff`) and the
  contacts (name, address, phone; P4) an open order opened
  (:func:`jointuse.customers.service.tso_customer_lookup`); the dates to fix — the flows of its
  areas waiting for their date, fixed (the proposed date or a later one) or refused through the
  same steps as ``POST /v1/flows/{id}/date`` and ``/refusal`` (:mod:`jointuse.flows.steps`).

Every read of personal data goes through the same services and gate as the ``/v1`` routes, with
the same purpose: each page view is on the ledger; every refusal of the signed-in party is too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response

from jointuse.access.refusals import record_refusal
from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.edge import EdgeRefusal
from jointuse.core.errors import AccessDenied, JointuseError, ValidationError
from jointuse.core.http import run_unit
from jointuse.customers import service as customers
from jointuse.flows import service as flows
from jointuse.flows import steps
from jointuse.flows.common import P1, flow_view, jst_day
from jointuse.flows.model import NgReason
from jointuse.flows.preview import preview_judgement
from jointuse.ledger.auditing import verify
from jointuse.ledger.checkpoint import stored_checkpoints
from jointuse.ledger.keys import bound_key
from jointuse.policy.engine import Party
from jointuse.web.common import (
    SESSION_COOKIE,
    check_anonymous_csrf,
    engine_of,
    error_page,
    form_of,
    in_session,
    now,
    redirect,
    render,
    set_cookie,
)
from jointuse.webauth import service as sessions
from jointuse.webauth.service import WebSession
from jointuse.workorders import service as orders
from jointuse.workorders import staff
from jointuse.workorders.scope import points_of

router = APIRouter(prefix="/console", include_in_schema=False)
_T = TypeVar("_T")
ORDER_KINDS = ("outage", "disaster", "meter_reading", "maintenance", "meter_replacement")
MAX_CONTACTS = 100


def _rid(request: Request) -> str:
    return getattr(request.state, "request_id", None) or "web-console"


async def _as_party(
    request: Request,
    use_case: Callable[[UnitOfWork, WebSession, Party], _T],
    *,
    form: dict[str, str] | None = None,
    purpose: str | None = None,
    action: str = "read",
    kind: str | None = None,
) -> tuple[WebSession, _T]:
    """Run a console use case as the session's party; a refusal the gate did not record is
    recorded here (as the API's edge does) before it is answered."""

    def run(uow: UnitOfWork, session: WebSession) -> _T:
        if session.party is None:
            raise sessions.SessionEnded("not a joint user's session", reason="session_ended")
        if kind is not None and session.party.kind != kind:
            raise ValidationError(
                f"this page is for a {kind}", field="party", valid=f"a {kind}'s session"
            )
        return use_case(uow, session, session.party)

    try:
        return await in_session(request, run, form=form)
    except JointuseError as exc:
        await record_console_refusal(request, exc, purpose=purpose, action=action)
        raise


async def record_console_refusal(
    request: Request, exc: JointuseError, *, purpose: str | None, action: str = "read"
) -> None:
    """Put the refusal of the signed-in party on the ledger (as the API's edge does), unless the
    gate did already or the session itself ended (401: nobody to record)."""
    if exc.status == 401 or exc.recorded_on_ledger:
        return
    engine = engine_of(request)
    refusal = EdgeRefusal(
        purpose=purpose,
        action="write" if action == "write" else "read",
        path_params=dict(request.path_params),
        reason=str(exc.details.get("reason") or exc.code),
        request_id=_rid(request),
    )
    with contextlib.suppress(JointuseError):  # the session itself ended: nothing to record
        await run_unit(
            engine,
            record_refusal,
            engine,
            sessions.party_of(request.cookies.get(SESSION_COOKIE), now(request)),
            refusal,
        )
    exc.recorded_on_ledger = True


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    return render(request, "console_sign_in.html")


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await form_of(request)
    engine = engine_of(request)
    try:
        check_anonymous_csrf(request, form)
        opened = await run_unit(
            engine,
            lambda: sessions.open_party(engine, token=form.get("token", ""), at=now(request)),
        )
    except JointuseError as exc:
        return render(request, "console_sign_in.html", status=exc.status, error=exc.message)
    response = redirect("/console")
    set_cookie(response, SESSION_COOKIE, opened.cookie, max_age=None)
    return response


@router.get("")
async def home(request: Request) -> Response:
    try:
        session, _ = await _as_party(request, lambda uow, s, p: None)
    except JointuseError as exc:
        return error_page(request, exc)
    party = session.party
    assert party is not None
    auditors: frozenset[str] = getattr(request.app.state, "web_auditors", frozenset())
    if party.role not in ("auditor", "administrator"):
        if party.kind == "retailer":
            return redirect("/console/forwardings")
        if party.kind == "tso":
            return redirect("/console/work-orders")
        if party.kind == "dr_contractor":
            return redirect("/console/dr")
        if party.code in auditors:
            return redirect("/console/ledger")
    return render(
        request,
        "console_home.html",
        session=session,
        party=party,
        links=_home_links(party, party.code in auditors),
    )


def _home_links(party: Party, listed_auditor: bool) -> list[tuple[str, str]]:
    """The pages of the signed-in user, by role and kind of party: ``(path, message key)``."""
    if party.role == "administrator":
        return [("/console/admin", "admin_title")]
    if party.role == "auditor" or listed_auditor:
        anomalies = [("/console/audit/anomalies", "anomalies_title")]  # of a party's people
        return [
            ("/console/audit", "audit_search_title"),
            *(anomalies if party.role == "auditor" else []),
            ("/console/audit/incident", "incident_title"),
            ("/console/ledger", "ledger_title"),
        ]
    by_kind = {
        "retailer": [("/console/forwardings", "inbox_title")],
        "tso": [
            ("/console/work-orders", "work_orders_title"),
            ("/console/dates", "dates_title"),
            ("/console/supply-points", "points_title"),
        ],
        "dr_contractor": [("/console/dr", "dr_title")],
    }
    return by_kind.get(party.kind, [])


# --- retailer ------------------------------------------------------------------------------------


@router.get("/forwardings")
async def inbox(request: Request) -> Response:
    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        found = flows.list_flows(uow.connection, actor=party)
        views = [
            flow_view(f, fw) for f, fw in found if fw is not None and fw.old_retailer == party.code
        ]
        waiting = [v for v in views if v["state"] == "awaiting_judgement"]
        filed = [flow_view(f, fw) for f, fw in found if f.filed_by == party.code]
        return {
            "waiting": waiting,
            "judged": [v for v in views if v not in waiting],
            "filed": filed,
        }

    try:
        session, data = await _as_party(request, use_case, kind="retailer")
    except JointuseError as exc:
        return error_page(request, exc)
    return render(request, "console_inbox.html", session=session, **data)


@router.get("/forwardings/{forwarding_id}")
async def forwarding(forwarding_id: str, request: Request) -> Response:
    at = now(request)
    rid = _rid(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        fw, read = flows.read_forwarding(
            uow,
            gate=s_gate(request),
            actor=party,
            forwarding_id=forwarding_id,
            items=None,
            request_id=rid,
            at=at,
        )
        flow = flows.read_flow(uow.connection, actor=party, flow_id=fw.flow_id)
        preview = None
        if flow["state"] == "awaiting_judgement" and fw.old_retailer == party.code:
            preview = preview_judgement(
                uow,
                gate=s_gate(request),
                actor=party,
                forwarding_id=forwarding_id,
                request_id=rid,
                at=at,
            )
        return {"fw": fw, "items": read.data, "flow": flow, "preview": preview}

    try:
        session, data = await _as_party(
            request, use_case, kind="retailer", purpose="P2_cancellation_forwarding"
        )
    except JointuseError as exc:
        return error_page(request, exc)
    return render(
        request,
        "console_forwarding.html",
        session=session,
        item_labels=_item_labels(request),
        ng_reasons=[r.value for r in NgReason],
        **data,
    )


def _item_labels(request: Request) -> dict[str, str]:
    from jointuse.web.common import lang_of

    lang = lang_of(request)
    policy = s_gate(request).policy
    labels = {i.key: (i.label_ja if lang == "ja" else i.label_en) for i in policy.items}
    labels["name_kana"] = "氏名（カナ）" if lang == "ja" else "Name (kana)"
    return labels


def s_gate(request: Request) -> Any:
    return request.app.state.jointuse.gate


@router.post("/forwardings/{forwarding_id}/judgement")
async def judge(forwarding_id: str, request: Request) -> Response:
    form = await form_of(request)
    raw = await request.form()
    reasons = [v for v in raw.getlist("reasons") if isinstance(v, str)]
    choice = form.get("result", "")

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        return steps.judge_forwarding(
            uow,
            gate=s_gate(request),
            actor=party,
            forwarding_id=forwarding_id,
            result=None if choice == "auto" else choice,
            reasons=reasons,
            auto=choice == "auto",
            request_id=_rid(request),
            at=now(request),
        )

    try:
        _s, done = await _as_party(
            request,
            use_case,
            form=form,
            kind="retailer",
            purpose="P2_cancellation_forwarding",
            action="write",
        )
    except JointuseError as exc:
        return error_page(request, exc)
    return redirect(f"/console/flows/{done['flow_id']}")


@router.get("/flows/{flow_id}")
async def flow_page(flow_id: str, request: Request) -> Response:
    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        return flows.read_flow(uow.connection, actor=party, flow_id=flow_id)

    try:
        session, flow = await _as_party(request, use_case)
    except JointuseError as exc:
        return error_page(request, exc)
    return render(request, "console_flow.html", session=session, flow=flow)


# --- TSO ----------------------------------------------------------------------------------------


def _local(text: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{field} is not a date and time", field=field, valid="YYYY-MM-DDTHH:MM"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=JST)


def _points(text: str) -> list[str]:
    return [p.strip() for p in text.replace(",", "\n").splitlines() if p.strip()]


async def _tso_write(
    request: Request,
    form: dict[str, str],
    use_case: Callable[[UnitOfWork, WebSession, Party], object],
    *,
    purpose: str,
    then: str,
) -> Response:
    """Run a TSO's change from a console form (``purpose``, action write: a refusal on the
    ledger), then go to ``then``; the refusal page otherwise."""
    try:
        await _as_party(request, use_case, form=form, kind="tso", purpose=purpose, action="write")
    except JointuseError as exc:
        return error_page(request, exc)
    return redirect(then)


@router.get("/dates")
async def dates_page(request: Request) -> Response:
    """The flows of the TSO's areas waiting for their date, each with the date it would fix."""

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> list[dict[str, Any]]:
        return steps.dates_to_fix(uow.connection, actor=party, today=jst_day(now(request)))

    try:
        session, found = await _as_party(request, use_case, kind="tso")
    except JointuseError as exc:
        return error_page(request, exc)
    return render(request, "console_dates.html", session=session, flows=found)


def _day(text: str) -> date | None:
    """The date a TSO chose in the form (empty: the proposed one)."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{text[:20]!r} is not a date", field="date", valid="YYYY-MM-DD, or empty"
        ) from None


@router.post("/dates/{flow_id}")
async def fix_date(flow_id: str, request: Request) -> Response:
    """The TSO fixes the flow's date: the proposed one, or a later one it chose."""
    form = await form_of(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> object:
        return steps.fix_date(
            uow,
            gate=s_gate(request),
            actor=party,
            flow_id=flow_id,
            day=_day(form.get("date", "")),
            request_id=_rid(request),
            at=now(request),
        )

    return await _tso_write(request, form, use_case, purpose=P1, then=f"/console/flows/{flow_id}")


@router.post("/dates/{flow_id}/refusal")
async def refuse_flow(flow_id: str, request: Request) -> Response:
    """The TSO refuses a move-in, move-out or ampere change, with its reason."""
    form = await form_of(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> object:
        return steps.refuse(
            uow,
            gate=s_gate(request),
            actor=party,
            flow_id=flow_id,
            reason=form.get("reason", ""),
            request_id=_rid(request),
            at=now(request),
        )

    return await _tso_write(request, form, use_case, purpose=P1, then=f"/console/flows/{flow_id}")


@router.get("/work-orders")
async def work_orders(request: Request) -> Response:
    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> list[dict[str, Any]]:
        return [
            orders.view(o)
            for o in orders.orders(uow, actor=party, at=now(request), open_only=False)
        ]

    try:
        session, found = await _as_party(request, use_case, kind="tso")
    except JointuseError as exc:
        return error_page(request, exc)
    return render(
        request, "console_work_orders.html", session=session, orders=found, kinds=ORDER_KINDS
    )


@router.post("/work-orders")
async def open_order(request: Request) -> Response:
    form = await form_of(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        order = orders.open_order(
            uow,
            actor=party,
            kind=form.get("kind", ""),
            reason=form.get("reason", "")[:500],
            starts_at=_local(form.get("starts_at", ""), "starts_at"),
            ends_at=_local(form.get("ends_at", ""), "ends_at"),
            points=_points(form.get("points", "")),
            feeder=form.get("feeder") or None,
            request_id=_rid(request),
            at=now(request),
        )
        return orders.view(order)

    try:
        _s, order = await _as_party(
            request, use_case, form=form, kind="tso", purpose="P4_tso_operations", action="write"
        )
    except JointuseError as exc:
        return error_page(request, exc)
    return redirect(f"/console/work-orders/{order['order_id']}")


def _order(uow: UnitOfWork, party: Party, order_id: str, at: datetime) -> dict[str, Any]:
    for o in orders.orders(uow, actor=party, at=at, open_only=False):
        if o.id == order_id:
            view = orders.view(o)
            view["open"] = o.closed_at is None and o.starts_at <= at < o.ends_at
            return view
    from jointuse.core.errors import NotFound

    raise NotFound(f"no work order {order_id[:40]!r} of yours")


@router.get("/work-orders/{order_id}")
async def work_order(order_id: str, request: Request) -> Response:
    """An order: its window and scope; for the TSO (not its field staff) its staff, assigned
    and unassigned here (:mod:`jointuse.workorders.staff`)."""

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        order = _order(uow, party, order_id, now(request))
        manages = party.role in (None, "operator")
        team = staff.staff_of(uow, actor=party, order_id=order_id) if manages else None
        return {"order": order, "staff": team}

    try:
        session, data = await _as_party(request, use_case, kind="tso")
    except JointuseError as exc:
        return error_page(request, exc)
    return render(request, "console_work_order.html", session=session, **data)


@router.post("/work-orders/{order_id}/staff")
async def assign_staff(order_id: str, request: Request) -> Response:
    """Assign one of the TSO's field staff to the order: the order opens its contacts to them."""
    form = await form_of(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> None:
        staff.assign(
            uow,
            actor=party,
            order_id=order_id,
            user=form.get("user", ""),
            request_id=_rid(request),
            at=now(request),
        )

    return await _tso_write(
        request, form, use_case, purpose=orders.P4, then=f"/console/work-orders/{order_id}"
    )


@router.post("/work-orders/{order_id}/staff/{user}/removal")
async def unassign_staff(order_id: str, user: str, request: Request) -> Response:
    """End a staff member's assignment: from now the order opens nothing to them."""
    form = await form_of(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> None:
        staff.unassign(
            uow,
            actor=party,
            order_id=order_id,
            user=user,
            request_id=_rid(request),
            at=now(request),
        )

    return await _tso_write(
        request, form, use_case, purpose=orders.P4, then=f"/console/work-orders/{order_id}"
    )


@router.post("/work-orders/{order_id}/scope")
async def widen(order_id: str, request: Request) -> Response:
    form = await form_of(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> None:
        orders.widen(
            uow,
            actor=party,
            order_id=order_id,
            points=_points(form.get("points", "")),
            feeder=form.get("feeder") or None,
            request_id=_rid(request),
            at=now(request),
        )

    return await _tso_write(
        request, form, use_case, purpose=orders.P4, then=f"/console/work-orders/{order_id}"
    )


@router.post("/work-orders/{order_id}/close")
async def close(order_id: str, request: Request) -> Response:
    form = await form_of(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> None:
        orders.close(uow, actor=party, order_id=order_id, request_id=_rid(request), at=now(request))

    return await _tso_write(
        request, form, use_case, purpose=orders.P4, then=f"/console/work-orders/{order_id}"
    )


@router.post("/work-orders/{order_id}/contacts")
async def contacts(order_id: str, request: Request) -> Response:
    """The contacts of the order's points (P4, through the gate: each read on the ledger; a
    point whose read is refused shows as not opened). A POST: the points and what they open
    stay out of URLs."""
    form = await form_of(request)
    at = now(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        order = _order(uow, party, order_id, at)
        rows: list[dict[str, Any]] = []
        for point in points_of(uow, actor=party, order_id=order_id, limit=MAX_CONTACTS):
            try:
                read = customers.tso_customer_lookup(
                    uow,
                    gate=s_gate(request),
                    actor=party,
                    supply_point_id=point,
                    request_id=_rid(request),
                    at=at,
                )
                rows.append({"point": point, "data": read.data})
            except JointuseError as exc:
                rows.append({"point": point, "data": None, "reason": exc.code})
        return {"order": order, "rows": rows}

    try:
        session, data = await _as_party(
            request, use_case, form=form, kind="tso", purpose="P4_tso_operations"
        )
    except JointuseError as exc:
        return error_page(request, exc)
    return render(request, "console_contacts.html", session=session, **data)


# --- auditor ------------------------------------------------------------------------------------

AUDITORS_ENV = "JOINTUSE_WEB_AUDITORS"


def auditors_from(env: Mapping[str, str]) -> frozenset[str]:
    """The party codes whose console shows the ledger's state (``JOINTUSE_WEB_AUDITORS``,
    comma-separated) — a stop-gap until user roles exist: the ledger's state holds no personal
    data, but it is not every joint user's business either."""
    return frozenset(c.strip() for c in env.get(AUDITORS_ENV, "").split(",") if c.strip())


def auditor_scope(request: Request, party: Party) -> str | None:
    """Whose entries the signed-in auditor reads: None for the whole ledger (a party listed in
    ``JOINTUSE_WEB_AUDITORS``: the operator's audit), the party's own code for a user with the
    role ``auditor`` of any other party; anyone else is refused (``role_not_permitted``)."""
    allowed: frozenset[str] = getattr(request.app.state, "web_auditors", frozenset())
    if party.code in allowed:
        return None
    if party.role == "auditor":
        return party.code
    raise AccessDenied(
        "the ledger is shown to auditors only: a user with the role auditor, or a party "
        f"listed in {AUDITORS_ENV}",
        reason="role_not_permitted",
    )


def _require_auditor(request: Request, party: Party) -> None:
    auditor_scope(request, party)


def _checkpoints(engine: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "chain_pos": c.chain_pos,
            "head_hash": c.head_hash,
            "signed_at": c.signed_at,
            "public_key": c.public_key,
            "valid": c.signature_valid(),
        }
        for c in reversed(stored_checkpoints(engine))
    ]


@router.get("/ledger")
async def ledger_page(request: Request) -> Response:
    """The signed checkpoints of the ledger (newest first) and a button to verify it now."""
    try:
        session, _ = await _as_party(
            request, lambda uow, s, p: _require_auditor(request, p), purpose="audit:ledger"
        )
    except JointuseError as exc:
        return error_page(request, exc)
    engine = engine_of(request)
    found = await run_unit(engine, _checkpoints, engine)
    return render(request, "console_ledger.html", session=session, checkpoints=found, result=None)


@router.post("/ledger/verify")
async def ledger_verify(request: Request) -> Response:
    """Verify the whole ledger now (:func:`jointuse.ledger.auditing.verify`, read only) with the
    server's ledger key: chain, seal and entry MACs, checkpoints — and what it could not check."""
    form = await form_of(request)
    try:
        session, _ = await _as_party(
            request,
            lambda uow, s, p: _require_auditor(request, p),
            form=form,
            purpose="audit:ledger",
        )
    except JointuseError as exc:
        return error_page(request, exc)
    engine = engine_of(request)
    result = await run_unit(engine, lambda: verify(engine, key=bound_key(engine)))
    found = await run_unit(engine, _checkpoints, engine)
    return render(request, "console_ledger.html", session=session, checkpoints=found, result=result)

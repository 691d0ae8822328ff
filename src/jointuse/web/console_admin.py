"""The administrator's console: a user with the role ``administrator`` manages their own party —
its users (list, add, deactivate), its API tokens (issue: the secret is shown once; revoke) and
its webhook (show, register or replace: its signing secret shown once; remove) — and reads the
public registry of the parties.

The same services as the CLI (``jointuse user add``, ``token issue --user``, ``token revoke``)
and the API (``PUT``/``GET``/``DELETE /v1/webhooks``): :mod:`jointuse.parties.service`,
:mod:`jointuse.messages.webhooks`, in the page's unit of work. None of it is personal data of
customers (no gate decision); each change is on the ledger in its own transaction
(:func:`jointuse.parties.service.record_administration`: purpose ``admin:party``, the
administrator as the acting user, the user's code or the token's ID — never a secret); anyone
but an administrator is refused (403 ``role_not_permitted``), on the ledger, as is every refused
change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from jointuse.access.gate import ROLE_PURPOSES
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import AccessDenied, JointuseError, NotFound, ValidationError
from jointuse.messages import webhooks
from jointuse.messages.idempotency_http import messages_settings
from jointuse.parties import service as parties
from jointuse.parties.tokens import DEFAULT_TTL_DAYS
from jointuse.policy.engine import Party
from jointuse.web.common import error_page, form_of, now, render
from jointuse.web.console import _as_party, _rid
from jointuse.webauth.service import WebSession

router = APIRouter(prefix="/console/admin", include_in_schema=False)
PURPOSE = "admin:party"


def _administrator(party: Party) -> None:
    if party.role != "administrator":
        raise AccessDenied(
            "these pages are for a party's administrators (a user with the role administrator)",
            reason="role_not_permitted",
        )


def _overview(uow: UnitOfWork, party: Party, at: Any) -> dict[str, Any]:
    try:
        hook: dict[str, Any] | None = webhooks.status(uow.connection, party=party.code)
    except NotFound:
        hook = None
    return {
        "parties": [parties.public_view(p, at) for p in parties.list_parties(uow)],
        "users": parties.list_users(uow, party.code),
        "tokens": [
            {"info": t, "state": t.state_at(at)}
            for t in reversed(parties.list_tokens(uow, party.code))
        ],
        "webhook": hook,
        "roles": tuple(ROLE_PURPOSES),
    }


async def _page(
    request: Request,
    change: Any = None,
    *,
    form: dict[str, str] | None = None,
) -> Response:
    """Run ``change`` (if any) then read the page, in one unit of work; render it with what the
    change returns (a secret shown once), or the refusal page."""
    at = now(request)

    def use_case(uow: UnitOfWork, s: WebSession, party: Party) -> dict[str, Any]:
        _administrator(party)
        shown = change(uow, party) if change is not None else None
        if shown is not None:  # the change is on the ledger, in its own transaction
            parties.record_administration(
                uow.connection,
                actor=party,
                change=shown["kind"],
                subject=shown.get("user") or shown.get("token_id") or "webhook",
                request_id=_rid(request),
                at=at,
            )
        return {"shown": shown, **_overview(uow, party, at)}

    try:
        session, data = await _as_party(
            request,
            use_case,
            form=form,
            purpose=PURPOSE,
            action="read" if change is None else "write",
        )
    except JointuseError as exc:
        return error_page(request, exc)
    return render(request, "console_admin.html", session=session, **data)


@router.get("")
async def admin_home(request: Request) -> Response:
    return await _page(request)


@router.post("/users")
async def add_user(request: Request) -> Response:
    form = await form_of(request)

    def change(uow: UnitOfWork, party: Party) -> dict[str, Any]:
        user = parties.add_user(
            uow,
            party.code,
            code=form.get("code", ""),
            name=form.get("name", "")[:200],
            role=form.get("role", ""),
            email=form.get("email") or None,
            at=now(request),
        )
        return {"kind": "user_added", "user": user.code}

    return await _page(request, change, form=form)


@router.post("/users/{code}/deactivation")
async def deactivate_user(code: str, request: Request) -> Response:
    form = await form_of(request)

    def change(uow: UnitOfWork, party: Party) -> dict[str, Any]:
        parties.deactivate_user(uow, party.code, code, at=now(request))
        return {"kind": "user_deactivated", "user": code}

    return await _page(request, change, form=form)


def _ttl(text: str) -> int:
    try:
        return int(text or DEFAULT_TTL_DAYS)
    except ValueError:
        raise ValidationError(
            "ttl_days is not a whole number of days", field="ttl_days", valid="1 to 365"
        ) from None


@router.post("/tokens")
async def issue_token(request: Request) -> Response:
    """Issue a token to one of the party's users (or a named system client); the secret is in
    this answer only (the page is not cached: ``Cache-Control: no-store``)."""
    form = await form_of(request)

    def change(uow: UnitOfWork, party: Party) -> dict[str, Any]:
        user = form.get("user") or None
        issued = parties.issue_token(
            uow,
            party.code,
            label=form.get("label", "")[:100],
            ttl_days=_ttl(form.get("ttl_days", "")),
            at=now(request),
            user=user,
            client=None if user else (form.get("client") or None),
        )
        return {"kind": "token_issued", "token_id": issued.token_id, "secret": issued.secret}

    return await _page(request, change, form=form)


@router.post("/tokens/{token_id}/revocation")
async def revoke_token(token_id: str, request: Request) -> Response:
    form = await form_of(request)

    def change(uow: UnitOfWork, party: Party) -> dict[str, Any]:
        if token_id not in {t.token_id for t in parties.list_tokens(uow, party.code)}:
            raise NotFound(f"no token {token_id[:40]!r} of {party.code}", field="token_id")
        parties.revoke_token(uow, token_id, at=now(request))
        return {"kind": "token_revoked", "token_id": token_id}

    return await _page(request, change, form=form)


@router.post("/webhook")
async def register_webhook(request: Request) -> Response:
    """Register or replace the party's webhook (as ``PUT /v1/webhooks``): a new signing secret,
    shown once."""
    form = await form_of(request)
    allow_http = messages_settings(request).webhook_allow_http

    def change(uow: UnitOfWork, party: Party) -> dict[str, Any]:
        view, _created = webhooks.register(
            uow.connection,
            party=party.code,
            url=form.get("url", ""),
            at=now(request),
            allow_http=allow_http,
        )
        return {"kind": "webhook_registered", "secret": view["secret"]}

    return await _page(request, change, form=form)


@router.post("/webhook/removal")
async def remove_webhook(request: Request) -> Response:
    form = await form_of(request)

    def change(uow: UnitOfWork, party: Party) -> dict[str, Any]:
        webhooks.unregister(uow.connection, party=party.code)
        return {"kind": "webhook_removed"}

    return await _page(request, change, form=form)

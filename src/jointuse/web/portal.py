"""The customer portal (本人): sign in with a one-time code by e-mail (or enrol with the bill's
details), and "who used my data" — filterable by purpose, party and period, with a chart of the
uses per month and purpose drawn on the server, each entry explained in plain words with the
controller (管理責任者) who answers for it. The access record is read through the same services
as ``GET /v1/me/access-log`` (:func:`jointuse.rights.access_log.access_log`): the reading is on
the ledger like an API read.

Passkeys (WebAuthn, :mod:`jointuse.rights.passkeys`): a signed-in customer adds and removes them
on ``/my/passkeys``; the sign-in page offers one next to the code. The ceremonies run in the
page's script (``static/passkeys.js``, JSON to the endpoints below); without it the code sign-in
works as before. The relying party: ``JOINTUSE_WEBAUTHN_RP_ID`` / ``JOINTUSE_WEBAUTHN_ORIGIN``,
else the request's host."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, ValidationError
from jointuse.core.http import run_unit
from jointuse.negawatt import consent
from jointuse.parties import service as parties
from jointuse.rights import access_log as log
from jointuse.rights import passkeys
from jointuse.rights import service as rights
from jointuse.usage import inquiry
from jointuse.web.chart import chart
from jointuse.web.common import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    check_anonymous_csrf,
    engine_of,
    error_page,
    form_of,
    in_session,
    json_error,
    json_of,
    json_response,
    lang_of,
    now,
    redirect,
    render,
    set_cookie,
)
from jointuse.web.i18n import translate
from jointuse.webauth import service as sessions
from jointuse.webauth.service import WebSession

router = APIRouter(include_in_schema=False)
_KEY = re.compile(r"[A-Za-z0-9_:.-]{1,64}")


def _source(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("/")
async def home(request: Request) -> Response:
    return render(request, "home.html")


@router.get("/my/sign-in")
async def sign_in_form(request: Request) -> Response:
    return render(request, "my_sign_in.html", step="email")


@router.post("/my/sign-in")
async def sign_in_send(request: Request) -> Response:
    form = await form_of(request)
    try:
        check_anonymous_csrf(request, form)
        engine = engine_of(request)
        await run_unit(
            engine,
            lambda: rights.sign_in(
                engine,
                request.app.state.mailer,
                email=form.get("email", ""),
                at=now(request),
                source=_source(request),
            ),
        )
    except JointuseError as exc:
        return _form_error(request, exc, "email", form)
    return render(request, "my_sign_in.html", step="code", email=form.get("email", ""))


@router.get("/my/enrol")
async def enrol_form(request: Request) -> Response:
    return render(request, "my_enrol.html", step="details")


@router.post("/my/enrol")
async def enrol_send(request: Request) -> Response:
    form = await form_of(request)
    try:
        check_anonymous_csrf(request, form)
        engine = engine_of(request)
        await run_unit(
            engine,
            lambda: rights.enrol(
                engine,
                request.app.state.mailer,
                at=now(request),
                source=_source(request),
                contract_number=form.get("contract_number", ""),
                supply_point_id=form.get("supply_point_id", ""),
                postal_code=form.get("postal_code", ""),
                email=form.get("email", ""),
            ),
        )
    except JointuseError as exc:
        return _form_error(request, exc, "details", form, template="my_enrol.html")
    return render(request, "my_enrol.html", step="code", email=form.get("email", ""))


def _form_error(
    request: Request,
    exc: JointuseError,
    step: str,
    form: dict[str, str],
    template: str = "my_sign_in.html",
) -> Response:
    field = exc.details.get("field") if isinstance(exc, ValidationError) else None
    values = {k: v for k, v in form.items() if k not in ("csrf", "code")}
    return render(
        request,
        template,
        status=exc.status,
        step=step,
        error=exc.message,
        error_field=field,
        email=form.get("email", ""),
        values=values,
    )


async def _confirm(request: Request, purpose: str, template: str) -> Response:
    form = await form_of(request)
    engine = engine_of(request)
    try:
        check_anonymous_csrf(request, form)
        opened = await run_unit(
            engine,
            lambda: sessions.open_customer(
                engine,
                email=form.get("email", ""),
                code=form.get("code", ""),
                purpose=purpose,
                at=now(request),
                source=_source(request),
            ),
        )
    except JointuseError as exc:
        return _form_error(request, exc, "code", form, template=template)
    response = redirect("/my/access-log")
    set_cookie(response, SESSION_COOKIE, opened.cookie, max_age=None)
    return response


@router.post("/my/sign-in/confirm")
async def sign_in_confirm(request: Request) -> Response:
    return await _confirm(request, "sign_in", "my_sign_in.html")


@router.post("/my/enrol/confirm")
async def enrol_confirm(request: Request) -> Response:
    return await _confirm(request, "enrol", "my_enrol.html")


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    form = await form_of(request)
    try:
        await in_session(request, lambda uow, s: None, form=form)
    except JointuseError as exc:
        return error_page(request, exc)
    engine = engine_of(request)
    await run_unit(
        engine, sessions.close, engine, request.cookies.get(SESSION_COOKIE), now(request)
    )
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


def _day(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{field} is not a date", field=field, valid="YYYY-MM-DD") from None


def _key(text: str | None, field: str) -> str | None:
    if not text:
        return None
    if not _KEY.fullmatch(text):
        raise ValidationError(f"{field} is not a key", field=field, valid="a key from the list")
    return text


def _plain_key(prefix: str, purpose: str) -> str:
    """The catalogue key explaining ``purpose`` (every ``admin:…`` purpose shares one)."""
    return f"{prefix}_admin" if purpose.startswith("admin:") else f"{prefix}_{purpose}"


def _controllers(policy: Any, lang: str) -> dict[str, str]:
    """item key → the controller's description (管理責任者), from the policy."""
    by_category = {
        c.category: (c.label_ja if lang == "ja" else c.label_en) for c in policy.controllers
    }
    return {i.key: by_category.get(i.category, "") for i in policy.items}


@router.get("/my/access-log")
async def access_log_page(request: Request) -> Response:
    q = request.query_params
    lang = lang_of(request)
    policy = request.app.state.jointuse.gate.policy
    try:
        since_day = _day(q.get("since"), "since")
        until_day = _day(q.get("until"), "until")
        where = log.Filter(
            purpose=_key(q.get("purpose"), "purpose"),
            party=_key(q.get("party"), "party"),
            since=datetime.combine(since_day, time(), JST) if since_day else None,
            until=datetime.combine(until_day, time(), JST) if until_day else None,
        )
    except ValidationError as exc:
        return error_page(request, exc)
    names = {p.code: (p.name_ja, p.name_en) for p in parties.list_parties(engine_of(request))}
    rid = getattr(request.state, "request_id", None) or "web-access-log"

    def read(uow: UnitOfWork, session: WebSession) -> dict[str, Any]:
        if session.account is None:
            raise sessions.SessionEnded("not a customer's session", reason="session_ended")
        return log.access_log(
            uow.connection,
            account=session.account,
            policy=policy,
            party_names=names,
            at=now(request),
            where=where,
            request_id=rid,
        )

    try:
        session, found = await in_session(request, read)
    except JointuseError as exc:
        return error_page(request, exc)
    purposes = [p.key for p in policy.purposes]
    entries = [e for key in purposes for e in found["by_purpose"].get(key, [])]
    entries += [
        e for key, group in found["by_purpose"].items() if key not in purposes for e in group
    ]
    entries.sort(key=lambda e: e["at"], reverse=True)
    controllers = _controllers(policy, lang)
    for e in entries:
        e["when"] = datetime.fromisoformat(e["at"]).astimezone(JST).strftime("%Y-%m-%d %H:%M")
        e["plain"] = translate(lang, _plain_key("plain", e["purpose"]))
        e["controllers"] = sorted({controllers.get(i["item"], "") for i in e["items"]} - {""})
    drawn = chart([(datetime.fromisoformat(e["at"]), e["purpose"]) for e in entries], purposes)
    labels = {p.key: (p.label_ja if lang == "ja" else p.label_en) for p in policy.purposes}
    short = {
        key: translate(lang, _plain_key("short", key))
        for key in {*labels, *(e["purpose"] for e in entries)}
    }
    return render(
        request,
        "my_access_log.html",
        session=session,
        found=found,
        entries=entries,
        chart=drawn,
        purposes=[(p.key, short[p.key]) for p in policy.purposes],
        purpose_labels=short,
        parties=sorted((code, ja if lang == "ja" else en) for code, (ja, en) in names.items()),
        chosen={k: q.get(k, "") for k in ("purpose", "party", "since", "until")},
    )


@router.get("/lang/{code}")
async def switch_language(code: str, request: Request) -> Response:
    """Choose the pages' language (a cookie, no personal data) and go back."""
    from jointuse.web.common import LANG_COOKIE, local_path
    from jointuse.web.i18n import language

    response = redirect(local_path(request.query_params.get("next")))
    response.set_cookie(
        LANG_COOKIE,
        language(code),
        max_age=365 * 86400,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    return response


# --- my consents (DR agreements: jointuse.negawatt.consent) ----------------------------------


def _customer(session: WebSession) -> Any:
    if session.account is None:
        raise sessions.SessionEnded("not a customer's session", reason="session_ended")
    return session.account


@router.get("/my/consents")
async def consents_page(request: Request) -> Response:
    """The DR agreements concerning the customer: the wording, the state, the record; confirm
    with the e-mailed code, decline, withdraw (one step)."""
    names = {p.code: (p.name_ja, p.name_en) for p in parties.list_parties(engine_of(request))}
    lang = lang_of(request)

    return await _consents(request, names, lang)


async def _consents(
    request: Request,
    names: dict[str, tuple[str, str]],
    lang: str,
    *,
    issued: dict[str, Any] | None = None,
) -> Response:
    at = now(request)

    def read(uow: UnitOfWork, session: WebSession) -> tuple[Any, Any, Any]:
        account = _customer(session)
        return (
            consent.my_consents(uow.connection, account),
            inquiry.my_consents(uow.connection, account, at),
            inquiry.consentable_points(uow.connection, account, at),
        )

    try:
        session, (found, usage, points) = await in_session(request, read)
    except JointuseError as exc:
        return error_page(request, exc)

    def name(code: str) -> str:
        ja, en = names.get(code, (code, code))
        return ja if lang == "ja" else en

    for c in found:
        c["contractor_name"] = name(c["contractor"])
    for u in usage:
        u["retailer_name"] = name(u["retailer"])
    retailers = [
        {"code": p.code, "name": name(p.code)}
        for p in parties.list_parties(engine_of(request))
        if p.kind == "retailer"
    ]
    return render(
        request,
        "my_consents.html",
        session=session,
        consents=found,
        usage_consents=usage,
        usage_points=points,
        retailers=retailers,
        valid_days=inquiry.VALID_DAYS,
        issued=issued,
        sent=request.query_params.get("sent") == "1",
    )


@router.post("/my/usage-consents")
async def usage_consent_issue(request: Request) -> Response:
    """The customer consents that a retailer reads their usage (使用量情報照会): the page again,
    with the password shown this once (it is also e-mailed)."""
    form = await form_of(request)
    at = now(request)
    rid = getattr(request.state, "request_id", None)
    mailer = request.app.state.mailer
    days = form.get("valid_days", "")
    if not days.isdigit():
        return error_page(
            request,
            ValidationError(
                "valid_days must be 1, 7 or 31", field="valid_days", valid=list(inquiry.VALID_DAYS)
            ),
        )

    def act(uow: UnitOfWork, session: WebSession) -> dict[str, Any]:
        c, password = inquiry.issue(
            uow,
            mailer,
            account=_customer(session),
            supply_point_id=form.get("supply_point_id", ""),
            retailer_code=form.get("retailer", ""),
            valid_days=int(days),
            at=at,
            request_id=rid,
        )
        return {**inquiry.consent_json(c, at), "password": password}

    try:
        _session, issued = await in_session(request, act, form=form)
    except JointuseError as exc:
        return error_page(request, exc)
    names = {p.code: (p.name_ja, p.name_en) for p in parties.list_parties(engine_of(request))}
    return await _consents(request, names, lang_of(request), issued=issued)


@router.post("/my/usage-consents/{consent_id}/withdraw")
async def usage_consent_withdraw(consent_id: str, request: Request) -> Response:
    """The customer withdraws a usage-inquiry consent (one step)."""
    form = await form_of(request)
    if not _KEY.fullmatch(consent_id):
        return error_page(
            request, ValidationError("no such consent", field="consent_id", valid="a consent ID")
        )
    at = now(request)
    rid = getattr(request.state, "request_id", None)

    def act(uow: UnitOfWork, session: WebSession) -> None:
        inquiry.withdraw(
            uow, account=_customer(session), consent_id=consent_id, at=at, request_id=rid
        )

    try:
        await in_session(request, act, form=form)
    except JointuseError as exc:
        return error_page(request, exc)
    return redirect("/my/consents#usage")


_STEPS = ("confirm", "decline", "withdraw", "code")


@router.post("/my/consents/{agreement_id}/{step}")
async def consent_step(agreement_id: str, step: str, request: Request) -> Response:
    """One step of the customer on a DR agreement (the form carries the session's CSRF token)."""
    form = await form_of(request)
    if step not in _STEPS or not _KEY.fullmatch(agreement_id):
        return error_page(
            request,
            ValidationError(f"no such step {step!r}", field="step", valid=list(_STEPS)),
        )
    at = now(request)
    rid = getattr(request.state, "request_id", None)
    mailer = request.app.state.mailer

    def act(uow: UnitOfWork, session: WebSession) -> None:
        account = _customer(session)
        if step == "confirm":
            consent.confirm(
                uow,
                account=account,
                agreement_id=agreement_id,
                code=form.get("code", ""),
                at=at,
                request_id=rid,
            )
        elif step == "decline":
            consent.decline(uow, account=account, agreement_id=agreement_id, at=at, request_id=rid)
        elif step == "withdraw":
            consent.withdraw(uow, account=account, agreement_id=agreement_id, at=at, request_id=rid)
        else:
            consent.send_code(uow, mailer, account=account, agreement_id=agreement_id, at=at)

    try:
        await in_session(request, act, form=form)
    except JointuseError as exc:
        return error_page(request, exc)
    return redirect("/my/consents?sent=1" if step == "code" else "/my/consents")


# --- passkeys (WebAuthn: jointuse.rights.passkeys) --------------------------------------------

RP_ID_ENV = "JOINTUSE_WEBAUTHN_RP_ID"
ORIGIN_ENV = "JOINTUSE_WEBAUTHN_ORIGIN"
_PASSKEY_ID = re.compile(r"[0-9a-f-]{36}")


def relying_party_from(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The configured RP ID and origin (``JOINTUSE_WEBAUTHN_RP_ID``, ``JOINTUSE_WEBAUTHN_ORIGIN``);
    ``None`` where unset: the request's own host (and scheme) then."""
    rp_id = env.get(RP_ID_ENV, "").strip().lower() or None
    origin = env.get(ORIGIN_ENV, "").strip().rstrip("/") or None
    return rp_id, origin


def _rp(request: Request) -> passkeys.RelyingParty:
    rp_id, origin = getattr(request.app.state, "webauthn_rp", (None, None))
    return passkeys.RelyingParty(
        id=rp_id or request.url.hostname or "localhost",
        origin=origin or f"{request.url.scheme}://{request.url.netloc}",
    )


def _csrf_of(body: dict[str, Any]) -> dict[str, str]:
    given = body.get("csrf")
    return {"csrf": given if isinstance(given, str) else ""}


@router.post("/my/sign-in/passkey/options")
async def passkey_sign_in_options(request: Request) -> Response:
    """Begin a passkey sign-in: the options of ``navigator.credentials.get`` (JSON); the
    challenge is bound to this browser's CSRF token."""
    engine = engine_of(request)
    try:
        body = await json_of(request)
        check_anonymous_csrf(request, _csrf_of(body))
        binding = request.cookies.get(CSRF_COOKIE, "")
        options = await run_unit(
            engine,
            lambda: rights.begin_passkey_sign_in(
                engine, binding=binding, rp=_rp(request), at=now(request), source=_source(request)
            ),
        )
    except JointuseError as exc:
        return json_error(request, exc)
    return json_response(options)


@router.post("/my/sign-in/passkey")
async def passkey_sign_in(request: Request) -> Response:
    """Finish a passkey sign-in: verified, the browser gets its web session (a cookie) and the
    address of the access record."""
    engine = engine_of(request)
    try:
        body = await json_of(request)
        check_anonymous_csrf(request, _csrf_of(body))
        binding = request.cookies.get(CSRF_COOKIE, "")
        opened = await run_unit(
            engine,
            lambda: sessions.open_customer_by_passkey(
                engine,
                binding=binding,
                rp=_rp(request),
                credential=body.get("credential"),
                at=now(request),
                source=_source(request),
            ),
        )
    except JointuseError as exc:
        return json_error(request, exc)
    response = json_response({"redirect": "/my/access-log"})
    set_cookie(response, SESSION_COOKIE, opened.cookie, max_age=None)
    return response


@router.get("/my/passkeys")
async def passkeys_page(request: Request) -> Response:
    """The customer's passkeys: list, add (with the page's script), remove (a form)."""

    def read(uow: UnitOfWork, session: WebSession) -> list[passkeys.Passkey]:
        return passkeys.list_passkeys(uow.connection, _customer(session))

    try:
        session, found = await in_session(request, read)
    except JointuseError as exc:
        return error_page(request, exc)

    def local(moment: datetime | None) -> str:
        return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M") if moment else ""

    return render(
        request,
        "my_passkeys.html",
        session=session,
        passkeys=[
            {
                "id": p.id,
                "label": p.label,
                "created": local(p.created_at),
                "used": local(p.last_used_at),
            }
            for p in found
        ],
        added=request.query_params.get("added") == "1",
        removed=request.query_params.get("removed") == "1",
    )


@router.post("/my/passkeys/options")
async def passkey_add_options(request: Request) -> Response:
    """Begin adding a passkey: the options of ``navigator.credentials.create`` (JSON); the
    challenge is bound to this web session."""
    at = now(request)
    try:
        body = await json_of(request)
        _session, options = await in_session(
            request,
            lambda uow, session: passkeys.begin_adding(
                uow,
                account=_customer(session),
                binding=session.id,
                rp=_rp(request),
                at=at,
                source=_source(request),
            ),
            form=_csrf_of(body),
        )
    except JointuseError as exc:
        return json_error(request, exc)
    return json_response(options)


@router.post("/my/passkeys/add")
async def passkey_add(request: Request) -> Response:
    """Finish adding a passkey: the browser's answer, verified, is kept with its label."""
    at = now(request)
    try:
        body = await json_of(request)
        label = body.get("label")
        await in_session(
            request,
            lambda uow, session: passkeys.finish_adding(
                uow,
                account=_customer(session),
                binding=session.id,
                rp=_rp(request),
                credential=body.get("credential"),
                label=label if isinstance(label, str) else None,
                at=at,
                source=_source(request),
            ),
            form=_csrf_of(body),
        )
    except JointuseError as exc:
        return json_error(request, exc)
    return json_response({"redirect": "/my/passkeys?added=1"})


@router.post("/my/passkeys/{passkey_id}/remove")
async def passkey_remove(passkey_id: str, request: Request) -> Response:
    """Remove one of the customer's passkeys (a form: works without the script)."""
    form = await form_of(request)
    if not _PASSKEY_ID.fullmatch(passkey_id):
        return error_page(
            request, ValidationError("no such passkey", field="passkey", valid="a passkey's ID")
        )
    at = now(request)
    try:
        await in_session(
            request,
            lambda uow, session: passkeys.remove(
                uow,
                account=_customer(session),
                passkey_id=passkey_id,
                at=at,
                source=_source(request),
            ),
            form=form,
        )
    except JointuseError as exc:
        return error_page(request, exc)
    return redirect("/my/passkeys?removed=1")

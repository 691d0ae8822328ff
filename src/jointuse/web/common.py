"""What every page shares: templates (Jinja2, autoescaped), the language, the security headers
(a strict Content-Security-Policy: no inline script or style), cookies, CSRF checks and the
error page."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine

from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.errors import JointuseError, ValidationError
from jointuse.core.http import run_unit
from jointuse.web.i18n import LANGUAGES, language, translate
from jointuse.webauth import service as sessions
from jointuse.webauth.service import WebSession

HERE = Path(__file__).parent
STATIC_PATH = "/web-static"
SESSION_COOKIE = "__Host-ju_session"
CSRF_COOKIE = "__Host-ju_csrf"
LANG_COOKIE = "ju_lang"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
_T = TypeVar("_T")

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def jst(moment: datetime | str | None) -> str:
    """A moment (or its ISO text) as ``YYYY-MM-DD HH:MM`` JST, for the pages (``|jst``)."""
    if moment is None or moment == "":
        return ""
    at = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return at.astimezone(JST).strftime("%Y-%m-%d %H:%M") if at.tzinfo else str(moment)


templates.filters["jst"] = jst


class CsrfRefused(JointuseError):
    """A form post without this session's CSRF token (403)."""

    code = "csrf_refused"
    status = 403


def lang_of(request: Request) -> str:
    return language(request.cookies.get(LANG_COOKIE))


def now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.jointuse.clock
    return clock()


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.jointuse.engine
    return engine


def _secure(response: Response) -> Response:
    for k, v in SECURITY_HEADERS.items():
        response.headers[k] = v
    return response


def anonymous_csrf(request: Request) -> tuple[str, bool]:
    """The double-submit token of a signed-out browser (its ``__Host-`` cookie; a new one when
    it has none): ``(token, is_new)``."""
    token = request.cookies.get(CSRF_COOKIE) or ""
    if len(token) == 43:
        return token, False
    return secrets.token_urlsafe(32), True


def check_anonymous_csrf(request: Request, form: dict[str, str]) -> None:
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    given = form.get("csrf", "")
    if len(cookie) != 43 or not hmac.compare_digest(cookie, given):
        raise CsrfRefused("the form's CSRF token does not match", reason="csrf_refused")


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    session: WebSession | None = None,
    **context: Any,
) -> HTMLResponse:
    lang = lang_of(request)
    csrf = session.csrf_token if session is not None else None
    new_cookie = None
    if csrf is None:
        csrf, is_new = anonymous_csrf(request)
        new_cookie = csrf if is_new else None

    def t(key: str) -> str:
        return translate(lang, key)

    html = templates.get_template(template).render(
        lang=lang,
        languages=LANGUAGES,
        t=t,
        csrf=csrf,
        session=session,
        static=STATIC_PATH,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    if new_cookie is not None:
        set_cookie(response, CSRF_COOKIE, new_cookie, max_age=None)
    return _secure(response)  # type: ignore[return-value]


def json_response(data: Any, *, status: int = 200) -> Response:
    """A JSON answer to a page's script (the pages' security headers)."""
    return _secure(JSONResponse(data, status_code=status))


def json_error(request: Request, exc: JointuseError) -> Response:
    """A refusal answered to a page's script: the code, the message in the page's language
    where the pages have one, the field at fault."""
    lang = lang_of(request)
    if isinstance(exc, sessions.SessionEnded):
        message = translate(lang, "session_ended")
    elif isinstance(exc, CsrfRefused):
        message = translate(lang, "csrf_refused")
    else:
        message = exc.message
    response = json_response(
        {"error": exc.code, "message": message, "field": exc.details.get("field")},
        status=exc.status,
    )
    retry = exc.details.get("retry_after")
    if retry is not None:
        response.headers["Retry-After"] = str(retry)
    return response


async def json_of(request: Request) -> dict[str, Any]:
    """The JSON object a page's script posted, else a 422 naming the body."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ValidationError("the body is not a JSON object", field="body", valid="{...}")
    return body


def set_cookie(response: Response, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def redirect(to: str) -> Response:
    return _secure(RedirectResponse(to, status_code=303))


def local_path(text: str | None) -> str:
    """A redirect target on this site only (a path, never ``//host`` or a scheme)."""
    if not text or not text.startswith("/") or text.startswith("//") or "\\" in text:
        return "/"
    return text[:200]


async def form_of(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def error_page(request: Request, exc: JointuseError, session: WebSession | None = None) -> Response:
    lang = lang_of(request)
    if isinstance(exc, sessions.SessionEnded):
        message = translate(lang, "session_ended")
    elif isinstance(exc, CsrfRefused):
        message = translate(lang, "csrf_refused")
    else:
        message = exc.message
    return render(
        request,
        "error.html",
        status=exc.status,
        session=session,
        message=message,
        code=exc.code,
        valid=exc.details.get("valid") if isinstance(exc.details.get("valid"), str) else None,
        title=translate(lang, "error_title"),
    )


async def in_session(
    request: Request,
    use_case: Callable[[UnitOfWork, WebSession], _T],
    *,
    form: dict[str, str] | None = None,
) -> tuple[WebSession, _T]:
    """Resolve the request's web session and run ``use_case`` in one unit of work (a form post
    must carry the session's CSRF token: checked first, before anything is read or changed)."""
    engine = engine_of(request)
    at = now(request)
    cookie = request.cookies.get(SESSION_COOKIE)

    def run(uow: UnitOfWork, session: WebSession) -> tuple[WebSession, _T]:
        if form is not None and not session.csrf_matches(form.get("csrf")):
            raise CsrfRefused("the form's CSRF token does not match", reason="csrf_refused")
        return session, use_case(uow, session)

    return await run_unit(engine, sessions.within, engine, cookie, at, run)

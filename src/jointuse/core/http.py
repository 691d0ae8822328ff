"""HTTP plumbing shared by every area's router.

Problem details (RFC 9457, ``application/problem+json``)
    Every refusal leaves the API as one JSON object: ``type`` (``urn:jointuse:problem:<code>``),
    ``title``, ``status``, ``detail`` (the human message), ``code`` (stable, machine-readable),
    ``instance`` (the request path), ``request_id``, and the refusal's own extras — ``field`` and
    ``valid`` for bad input; ``rule``, ``reason``, ``purpose``, ``items_refused`` for a policy
    refusal; ``character``/``position`` for a malformed supply point ID. The mapping is done once,
    here, for :class:`~jointuse.core.errors.JointuseError`, for FastAPI's request validation (422,
    naming each offending field, unknown JSON fields included: request models derive from
    :class:`StrictModel`, ``extra="forbid"``) and for Starlette's HTTP errors (unknown route 404,
    wrong method 405). Anything unexpected becomes a 500 problem that says nothing about the
    internals (the traceback goes to the log, under the request ID).

Purpose (利用目的)
    Personal-data endpoints name their purpose in the header ``Jointuse-Purpose`` (e.g.
    ``P4_tso_operations``). The header is passed **as given** to the access gate, so a missing or
    unknown purpose is decided by the policy engine (``purpose_missing`` / ``purpose_unknown``) and
    recorded on the access ledger like any other refusal; the problem mapping then turns that
    refusal into a **400** listing the valid purposes (it is the request that is incomplete, not
    the party that lacks a right).

Acting party
    ``Authorization: Bearer <token>``, or — only when the app is configured to trust a
    TLS-terminating proxy — the client certificate's SHA-256 fingerprint in
    ``X-Client-Cert-Fingerprint``. Without credentials, or with bad ones: 401 with
    ``WWW-Authenticate: Bearer``. A suspended party *is* authenticated: its requests reach the
    gate, are refused there (403, ``party_suspended``) and recorded.

Request ID
    ``X-Request-ID`` is taken from the request when it is a short token (letters, digits,
    ``._:-``, at most 128), else generated; it is echoed on every response, including problems,
    and recorded with each ledger entry of the request.

Body size
    Request bodies above ``max_body_bytes`` are refused with 413 before the route runs: at once
    from ``Content-Length``, else while the (chunked) body streams in.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jointuse.core.db import connect_read_only
from jointuse.core.errors import JointuseError

if TYPE_CHECKING:
    from jointuse.policy.engine import Party

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:jointuse:problem:"
REQUEST_ID_HEADER = "X-Request-ID"
PURPOSE_HEADER = "Jointuse-Purpose"
CLIENT_CERT_HEADER = "X-Client-Cert-Fingerprint"
DEFAULT_MAX_BODY_BYTES = 64 * 1024

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_PURPOSE_REASONS = frozenset({"purpose_missing", "purpose_unknown"})

#: Titles per stable code (the ``detail`` carries the specific message).
TITLES: Mapping[str, str] = {
    "invalid_input": "Invalid input",
    "invalid_supply_point_id": "Invalid supply point ID",
    "not_found": "Not found",
    "access_denied": "Access denied by the joint-use policy",
    "purpose_missing": "Purpose missing",
    "purpose_unknown": "Unknown purpose",
    "authentication_failed": "Authentication failed",
    "request_too_large": "Request body too large",
    "internal_error": "Internal error",
}


class StrictModel(BaseModel):
    """Base of every request body: unknown fields are refused (422 naming the field)."""

    model_config = ConfigDict(extra="forbid")


# --- JSON-safe extras ---------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data (dataclasses, enums, dates, sets, tuples; else ``str``)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return str(value)


def _decision_extras(decision: Any) -> dict[str, Any]:
    """The parts of a policy decision a refused caller needs (no controllers, no bases)."""
    out: dict[str, Any] = {}
    for attr in ("rule_id", "reason", "purpose", "action"):
        key = "rule" if attr == "rule_id" else attr
        if hasattr(decision, attr):
            out[key] = jsonable(getattr(decision, attr))
    refused = getattr(decision, "refused", ())
    out["items_refused"] = [
        {
            "item": jsonable(getattr(r, "item", r)),
            "reason": jsonable(getattr(r, "reason", None)),
            "message": jsonable(getattr(r, "message", None)),
        }
        for r in refused
    ]
    if not out["items_refused"] and getattr(decision, "allowed", True) is False:
        # A request that named no items ("all the rule allows") is refused as a whole, as the
        # ledger records it: item "*".
        out["items_refused"] = [
            {
                "item": "*",
                "reason": jsonable(getattr(decision, "reason", None)),
                "message": jsonable(getattr(decision, "message", None)),
            }
        ]
    granted = getattr(decision, "granted", None)
    if granted is not None:
        out["items_granted"] = jsonable(granted)
    return out


def valid_purposes() -> list[str]:
    """The purpose keys of the shipped policy, in notice order."""
    from jointuse.policy.loader import default_policy

    return [p.key for p in default_policy().purposes]


def error_problem(exc: JointuseError) -> tuple[int, dict[str, Any]]:
    """Status and problem body of a refusal (without ``instance``/``request_id``)."""
    status = int(getattr(exc, "status", 400))
    code = str(getattr(exc, "code", "jointuse_error"))
    if status >= 500:
        log.error("server-side refusal %s: %s", code, exc.message)
        return 500, _base(500, "internal_error", "The server could not complete the request.")
    extras: dict[str, Any] = {}
    details = dict(getattr(exc, "details", {}) or {})
    decision = details.pop("decision", None) or getattr(exc, "decision", None)
    if decision is not None:
        extras.update(_decision_extras(decision))
        for key in ("rule_id", "refused", "valid_purposes"):  # given above, or below as `valid`
            details.pop(key, None)
    for key, value in details.items():
        if value is not None and key not in extras:
            extras[key] = jsonable(value)
    reason = extras.get("reason")
    if reason in _PURPOSE_REASONS:
        # The request named no purpose, or an unknown one: the request is incomplete (400).
        status, code = 400, str(reason)
        extras["field"] = PURPOSE_HEADER
        extras["valid"] = valid_purposes()
    body = _base(status, code, exc.message)
    body.update({k: v for k, v in extras.items() if k not in body})
    return status, body


def _base(status: int, code: str, detail: str) -> dict[str, Any]:
    title = TITLES.get(code)
    if title is None:
        try:
            title = HTTPStatus(status).phrase
        except ValueError:
            title = "Error"
    return {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }


def request_id_of(scope: Mapping[str, Any]) -> str | None:
    state = scope.get("state")
    if isinstance(state, Mapping):
        value = state.get("request_id")
        return value if isinstance(value, str) else None
    return None


def problem_response(
    request_scope: Mapping[str, Any],
    status: int,
    body: dict[str, Any],
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem response for the request of ``request_scope`` (adds instance, request_id)."""
    body = dict(body)
    body.setdefault("instance", str(request_scope.get("path", "")))
    request_id = request_id_of(request_scope)
    out_headers = dict(headers or {})
    if request_id:
        body.setdefault("request_id", request_id)
        out_headers[REQUEST_ID_HEADER] = request_id
    if status == 401:
        out_headers.setdefault("WWW-Authenticate", 'Bearer realm="jointuse"')
    return JSONResponse(
        body, status_code=status, headers=out_headers, media_type=PROBLEM_MEDIA_TYPE
    )


# --- exception handlers -------------------------------------------------------------------------


def _field_of(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where, parts = parts[0], parts[1:]
        if where == "header" and parts:
            return parts[0]
    return ".".join(parts) or "body"


_VALIDATION_MESSAGES: Mapping[str, str] = {
    "extra_forbidden": "unknown field (not part of this request's schema)",
    "missing": "field required",
    "json_invalid": "request body is not valid JSON",
}


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """422 problem body for FastAPI / pydantic validation errors, naming every field."""
    listed: list[dict[str, Any]] = []
    for err in errors:
        kind = str(err.get("type", "invalid"))
        field = _field_of(err.get("loc", ()))
        message = _VALIDATION_MESSAGES.get(kind) or str(err.get("msg", "invalid value"))
        if kind == "json_invalid":
            ctx = err.get("ctx") or {}
            field = "body"
            message = f"request body is not valid JSON: {ctx.get('error', 'decode error')}"
        listed.append({"field": field, "message": message, "type": kind})
    fields = list(dict.fromkeys(e["field"] for e in listed))
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in listed[:5])
    if len(listed) > 5:
        summary += f"; … ({len(listed) - 5} more)"
    body = _base(422, "invalid_input", summary or "invalid request")
    body["field"] = fields[0] if fields else "body"
    body["fields"] = fields
    body["errors"] = listed
    return body


async def _on_jointuse_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, JointuseError)
    status, body = error_problem(exc)
    return problem_response(request.scope, status, body)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(request.scope, 422, validation_problem(exc.errors()))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = {404: "not_found", 413: "request_too_large"}.get(status, f"http_{status}")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    if status == 404 and detail == "Not Found":
        detail = f"no such resource: {request.method} {request.url.path}"
    return problem_response(request.scope, status, _base(status, code, detail), exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error (request %s)", request_id_of(request.scope))
    body = _base(500, "internal_error", "The server could not complete the request.")
    return problem_response(request.scope, 500, body)


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error to an RFC 9457 problem response (see the module docstring)."""
    app.add_exception_handler(JointuseError, _on_jointuse_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


# --- ASGI middleware ----------------------------------------------------------------------------


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_problem(
    scope: Scope, receive: Receive, send: Send, status: int, body: dict[str, Any]
) -> None:
    await problem_response(scope, status, body)(scope, receive, send)


class RequestContextMiddleware:
    """Outermost guard: request ID in and out; any exception escaping the app → 500 problem.

    Unexpected exceptions are logged with their traceback and answered with a problem that names
    nothing internal; they are not re-raised (the request has been answered).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unexpected error (request %s)", request_id)
            if started:
                raise
            body = _base(500, "internal_error", "The server could not complete the request.")
            await _send_problem(scope, receive, send, 500, body)


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 (Content-Length first, then streaming).

    The body is read here (at most ``max_bytes`` + one chunk) and replayed to the app, so a route
    never sees a partial body and a refused request changes nothing.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, size: str) -> dict[str, Any]:
        body = _base(
            413,
            "request_too_large",
            f"request body of {size} exceeds the limit of {self.max_bytes} bytes",
        )
        body["limit_bytes"] = self.max_bytes
        return body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                body = _base(400, "invalid_input", f"Content-Length {declared!r} is not a number")
                body["field"] = "Content-Length"
                await _send_problem(scope, receive, send, 400, body)
                return
            if length > self.max_bytes:
                await _send_problem(scope, receive, send, 413, self._too_large(f"{length} bytes"))
                return
        chunks: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = bytes(message.get("body", b""))
            total += len(chunk)
            if total > self.max_bytes:
                await _send_problem(
                    scope, receive, send, 413, self._too_large(f"over {total - 1} bytes")
                )
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        await self.app(scope, _replay(chunks, None, receive), send)


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if pending is not None:
                return pending
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        return await receive()

    return replay


def install_middleware(app: FastAPI, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
    """Add the body limit, then the request context (outermost)."""
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(RequestContextMiddleware)


# --- request context: the acting party, the purpose ---------------------------------------------


class Authenticator(Protocol):
    """``parties.service.authenticate`` (injected by the composition root)."""

    def __call__(
        self,
        target: Connection,
        *,
        bearer: str | None,
        client_cert_fingerprint: str | None,
        at: datetime,
    ) -> Party: ...


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What the routes need, built once by ``create_app`` and kept on ``app.state.jointuse``.

    ``trust_client_cert_header``: read ``X-Client-Cert-Fingerprint`` (set by a TLS-terminating
    proxy that verified the client certificate); never enable it without such a proxy in front.
    """

    engine: Engine
    authenticate: Authenticator
    trust_client_cert_header: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def api_context(request: Request) -> ApiContext:
    ctx = getattr(request.app.state, "jointuse", None)
    if not isinstance(ctx, ApiContext):
        raise RuntimeError("app.state.jointuse is not set: build the app with create_app()")
    return ctx


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one request: party (with its status now), the purpose header
    as given (None if absent), the request ID and the moment of the request."""

    party: Party
    purpose: str | None
    request_id: str
    at: datetime


def acting_party(request: Request) -> Caller:
    """FastAPI dependency: authenticate the request (401 problem if it cannot be)."""
    ctx = api_context(request)
    at = ctx.clock()
    bearer = request.headers.get("authorization") or None
    fingerprint = (
        request.headers.get(CLIENT_CERT_HEADER) or None if ctx.trust_client_cert_header else None
    )
    with connect_read_only(ctx.engine) as conn:
        party = ctx.authenticate(conn, bearer=bearer, client_cert_fingerprint=fingerprint, at=at)
    purpose = request.headers.get(PURPOSE_HEADER)
    return Caller(
        party=party,
        purpose=purpose.strip() or None if purpose is not None else None,
        request_id=request_id_of(request.scope) or uuid.uuid4().hex,
        at=at,
    )

"""HTTP plumbing shared by every area's router.

Problem details (RFC 9457, ``application/problem+json``)
    Every refusal leaves the API as one JSON object (``type``, ``title``, ``status``, ``detail``,
    ``code``, ``instance``, ``request_id`` and the refusal's own extras); the mapping lives in
    :mod:`jointuse.core.problems` and is re-exported here. Request models derive from
    :class:`StrictModel` (``extra="forbid"``), so unknown JSON fields are a 422 naming the field.

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
    gate, are refused there (403, ``party_suspended``) and recorded. Routes take the unchecked
    :class:`Credentials` (dependency :func:`request_credentials`) and authenticate first thing
    inside their unit of work, on its connection: one transaction per request. They are
    ``async`` and await that unit of work with :func:`run_unit` (in the thread pool; on SQLite
    one at a time per database). (FastAPI validates
    the request's parameters and body before the route runs, so a request both unauthenticated
    and malformed is answered 422.) :func:`acting_party` authenticates on a connection of its
    own, for routes without a unit of work.

Request ID
    ``X-Request-ID`` is taken from the request when it is a short token (letters, digits,
    ``._:-``, at most 128), else generated; it is echoed on every response, including problems,
    and recorded with each ledger entry of the request.

Body size
    Request bodies above ``max_body_bytes`` are refused with 413 before the route runs: at once
    from ``Content-Length``, else while the (chunked) body streams in.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jointuse.core.db import connect_read_only
from jointuse.core.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_TYPE_PREFIX,
    PURPOSE_HEADER,
    REQUEST_ID_HEADER,
    TITLES,
    _base,
    error_problem,
    install_problem_handlers,
    jsonable,
    problem_response,
    request_id_of,
    valid_purposes,
    validation_problem,
)

if TYPE_CHECKING:
    from jointuse.access.gate import Gate
    from jointuse.policy.engine import Party

__all__ = [
    "CLIENT_CERT_HEADER",
    "DEFAULT_MAX_BODY_BYTES",
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_TYPE_PREFIX",
    "PURPOSE_HEADER",
    "REQUEST_ID_HEADER",
    "TITLES",
    "ApiContext",
    "Authenticator",
    "BodySizeLimitMiddleware",
    "Caller",
    "Credentials",
    "RequestContextMiddleware",
    "StrictModel",
    "acting_party",
    "api_context",
    "error_problem",
    "install_middleware",
    "install_problem_handlers",
    "jsonable",
    "problem_response",
    "request_credentials",
    "request_id_of",
    "run_unit",
    "valid_purposes",
    "validation_problem",
]

log = logging.getLogger(__name__)

CLIENT_CERT_HEADER = "X-Client-Cert-Fingerprint"
DEFAULT_MAX_BODY_BYTES = 64 * 1024

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class StrictModel(BaseModel):
    """Base of every request body: unknown fields are refused (422 naming the field)."""

    model_config = ConfigDict(extra="forbid")


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
    gate: Gate
    trust_client_cert_header: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def _context_of(request: Request) -> ApiContext:
    ctx = getattr(request.app.state, "jointuse", None)
    if not isinstance(ctx, ApiContext):
        raise RuntimeError("app.state.jointuse is not set: build the app with create_app()")
    return ctx


async def api_context(request: Request) -> ApiContext:
    """FastAPI dependency: the app's :class:`ApiContext` (``async``: no I/O, so FastAPI calls it
    on the event loop instead of handing it to the thread pool)."""
    return _context_of(request)


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one request: party (with its status now), the purpose header
    as given (None if absent), the request ID, the moment of the request, and the app's gate
    (the one every personal-data access of the request goes through)."""

    party: Party
    purpose: str | None
    request_id: str
    at: datetime
    gate: Gate


@dataclass(frozen=True, slots=True)
class Credentials:
    """What one request presents, read from its headers (no I/O) and **not yet checked**:
    the bearer token and (when trusted) the client-certificate fingerprint, the purpose header,
    the request ID and the moment of the request.

    A route authenticates with :meth:`authenticate` on the connection of its own unit of work,
    first thing inside it, so authentication and the use case (policy decision, read, ledger
    append) are one transaction: no separate connection checkout and transaction per request.
    A refusal (:class:`~jointuse.parties.tokens.AuthenticationFailed`, 401) raised there rolls
    the unit of work back: nothing is recorded. A suspended party *is* authenticated (with its
    status) and refused by the gate, on the ledger.
    """

    bearer: str | None
    client_cert_fingerprint: str | None
    purpose: str | None
    request_id: str
    at: datetime
    authenticator: Authenticator
    engine: Engine  # the app's database (the route opens its unit of work on it)
    gate: Gate  # the app's gate (jointuse.assembly)

    def authenticate(self, conn: Connection) -> Caller:
        """The :class:`Caller` these credentials identify, looked up on ``conn`` (401 if none)."""
        party = self.authenticator(
            conn,
            bearer=self.bearer,
            client_cert_fingerprint=self.client_cert_fingerprint,
            at=self.at,
        )
        return Caller(
            party=party,
            purpose=self.purpose,
            request_id=self.request_id,
            at=self.at,
            gate=self.gate,
        )


def _credentials(request: Request) -> Credentials:
    ctx = _context_of(request)
    headers = request.headers
    purpose = headers.get(PURPOSE_HEADER)
    return Credentials(
        bearer=headers.get("authorization") or None,
        client_cert_fingerprint=(
            headers.get(CLIENT_CERT_HEADER) or None if ctx.trust_client_cert_header else None
        ),
        purpose=purpose.strip() or None if purpose is not None else None,
        request_id=request_id_of(request.scope) or uuid.uuid4().hex,
        at=ctx.clock(),
        authenticator=ctx.authenticate,
        engine=ctx.engine,
        gate=ctx.gate,
    )


async def request_credentials(request: Request) -> Credentials:
    """FastAPI dependency: the request's :class:`Credentials`, unchecked (``async``, no I/O:
    no thread-pool hop), with the app's engine (one dependency for both). The route opens
    ``UnitOfWork(credentials.engine)`` and calls ``credentials.authenticate(uow.connection)``."""
    return _credentials(request)


_T = TypeVar("_T")

_WRITER_LIMITERS: weakref.WeakKeyDictionary[
    Any, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter]
] = weakref.WeakKeyDictionary()
_LIMITERS_LOCK = threading.Lock()


def _writer_limiter(engine: Engine) -> anyio.CapacityLimiter | None:
    """SQLite: one token per database (pool) and event loop; None elsewhere."""
    if engine.dialect.name != "sqlite":
        return None
    loop = asyncio.get_running_loop()
    with _LIMITERS_LOCK:
        per_loop = _WRITER_LIMITERS.get(engine.pool)
        if per_loop is None:
            per_loop = _WRITER_LIMITERS[engine.pool] = weakref.WeakKeyDictionary()
        limiter = per_loop.get(loop)
        if limiter is None:
            limiter = per_loop[loop] = anyio.CapacityLimiter(1)
        return limiter


async def run_unit(engine: Engine, fn: Callable[..., _T], *args: Any) -> _T:
    """Run a route's unit of work (blocking database work) in the thread pool — as FastAPI runs
    a plain ``def`` route — and await it; on SQLite **one at a time** per database.

    SQLite writers wait for each other anyway (one write lock; this process's queue of writers,
    :func:`jointuse.core.db.writer_queue`). Dispatched freely, the requests' threads all start
    and then wait on that queue, wake each other through it and fight over the GIL at every
    hand-over (measured: a gate request cost 1.3-1.6x the bare endpoint that way); admitted one
    at a time (an anyio ``CapacityLimiter(1)``), the waiting ones wait on the event loop and
    the thread that runs goes through without a hand-over (1.1-1.2x)."""
    return await anyio.to_thread.run_sync(
        functools.partial(fn, *args), limiter=_writer_limiter(engine)
    )


def acting_party(request: Request) -> Caller:
    """FastAPI dependency: authenticate the request on a read-only connection of its own (401
    problem if it cannot be). Routes that open a unit of work anyway use
    :func:`request_credentials` and authenticate inside it instead (one transaction)."""
    credentials = _credentials(request)
    with connect_read_only(credentials.engine) as conn:
        return credentials.authenticate(conn)

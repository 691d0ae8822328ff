"""HTTP plumbing shared by every area's router.

Problem details (RFC 9457, ``application/problem+json``)
    Every refusal leaves the API as one JSON object (``type``, ``title``, ``status``, ``detail``,
    ``code``, ``instance``, ``request_id`` and the refusal's own extras); the mapping lives in
    :mod:`jointuse.core.problems` and is re-exported here. Request models derive from
    :class:`StrictModel` (``extra="forbid"``), so unknown JSON fields are a 422 naming the field.

Purpose (利用目的)
    Personal-data endpoints name their purpose in the header ``Jointuse-Purpose`` (e.g.
    ``P4_tso_operations``). The header is read from the raw request by
    :func:`jointuse.core.edge.purpose_of`: one header at most, UTF-8, NFKC-normalised, and then
    exactly one of the policy's purposes — anything else (two headers, bytes that are not UTF-8,
    an unknown purpose, a trailing NBSP) is refused here with **400** listing the valid purposes
    and recorded on the ledger for an authenticated caller; an unknown purpose never reaches the
    policy engine. A *missing* purpose goes to the gate (some routes default one; otherwise the
    policy refuses it, ``purpose_missing``, recorded, answered 400).

Acting party
    ``Authorization: Bearer <token>``, or — only when the app is configured to trust a
    TLS-terminating proxy — the client certificate's SHA-256 fingerprint in
    ``X-Client-Cert-Fingerprint``. Without credentials, or with bad ones: 401 with
    ``WWW-Authenticate: Bearer``. A suspended party *is* authenticated: its requests reach the
    gate, are refused there (403, ``party_suspended``) and recorded. Routes take the unchecked
    :class:`Credentials` (dependency :func:`request_credentials`) and authenticate first thing
    inside their unit of work, on its connection: one transaction per request. They are
    ``async`` and await that unit of work with :func:`run_unit` (in the thread pool; on SQLite
    one at a time per database). :func:`acting_party` authenticates on a connection of its
    own, for routes without a unit of work.

Refusals (:func:`answer_refusal`, :mod:`jointuse.core.edge`)
    Every refusal on a route that needs credentials authenticates first — a request that is
    unauthenticated *and* malformed is answered 401 — and an authenticated caller's refusal
    (422, 413, a malformed path parameter, a bad purpose header, a 404) is appended to the
    access ledger with its reason before it is answered; the gate's policy refusals are on the
    ledger already. 401s go to the security log and count towards the per-source limit (429).
    Storage faults (read-only, full or unreachable database) are answered 503 with
    ``Retry-After`` (:mod:`jointuse.core.faults`). Problem bodies are bounded
    (:func:`jointuse.core.edge.bounded`).

Request IDs
    Every request gets the **server's own** request ID (32 hex digits, random), whatever the
    caller sends: it is the ``request_id`` of each ledger entry of the request, in the
    ``X-Request-ID`` header of every response and the ``request_id`` of every problem. (Taking
    the caller's value, as before, let two parties share one request ID on the ledger.)
    The caller's own ``X-Request-ID``, when it sends one, is kept beside it as the
    ``caller_request_id`` (ledger field, response header ``X-Caller-Request-ID``, problem
    member; it reaches the gate through :mod:`jointuse.core.request_ids`), **made safe** by
    :func:`jointuse.core.middleware.caller_request_id`: kept as given when it is a short token
    (letters, digits, ``._:-``, at most 128 characters); otherwise every other byte is
    percent-encoded (``%XX``) and the result cut at 128 characters. Of several ``X-Request-ID``
    headers the first counts.

Body size
    Request bodies above ``max_body_bytes`` are refused with 413 before the route runs: at once
    from ``Content-Length``, else while the (chunked) body streams in (recorded on the ledger for
    an authenticated caller, like every refusal).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine
from starlette.datastructures import Headers
from starlette.types import Scope

from jointuse.core.db import connect_read_only
from jointuse.core.edge import (
    EdgeRefusal,
    FailureLimiter,
    RefusalRecorder,
    bounded,
    log_auth_failure,
    needs_credentials,
    purpose_for_ledger,
    purpose_of,
    route_of,
    source_of,
)
from jointuse.core.errors import JointuseError
from jointuse.core.faults import storage_fault
from jointuse.core.middleware import (
    DEFAULT_MAX_BODY_BYTES,
    MAX_CALLER_REQUEST_ID,
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    caller_request_id,
    install_middleware,
)
from jointuse.core.openapi import bearer_scheme
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
    "MAX_CALLER_REQUEST_ID",
    "MAX_DB_INT",
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
    "RowId",
    "StrictModel",
    "acting_party",
    "answer_refusal",
    "api_context",
    "caller_request_id",
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


#: The largest integer a database column holds (64-bit signed): integer inputs that name rows
#: are bounded by it, so an oversized one is a 422, not a driver overflow (500).
MAX_DB_INT = 2**63 - 1

RowId = Annotated[int, Field(ge=1, le=MAX_DB_INT)]
"""A database row ID in a request body: 1 … :data:`MAX_DB_INT`."""


class StrictModel(BaseModel):
    """Base of every request body: unknown fields are refused (422 naming the field)."""

    model_config = ConfigDict(extra="forbid")


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
    #: The policy's purposes (the only values ``Jointuse-Purpose`` may take).
    purposes: tuple[str, ...] = field(default_factory=lambda: tuple(valid_purposes()))
    #: Records refusals decided at the edge (``jointuse.access.refusals.record_refusal``).
    record_refusal: RefusalRecorder | None = None
    #: Counts authentication failures per source (429 past its limit).
    limiter: FailureLimiter | None = None


def _context_of_scope(scope: Scope) -> ApiContext | None:
    ctx = getattr(getattr(scope.get("app"), "state", None), "jointuse", None)
    return ctx if isinstance(ctx, ApiContext) else None


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


def _scope_credentials(scope: Scope, ctx: ApiContext, purpose: str | None) -> Credentials:
    headers = Headers(scope=scope)
    return Credentials(
        bearer=headers.get("authorization") or None,
        client_cert_fingerprint=(
            headers.get(CLIENT_CERT_HEADER) or None if ctx.trust_client_cert_header else None
        ),
        purpose=purpose,
        request_id=request_id_of(scope) or uuid.uuid4().hex,
        at=ctx.clock(),
        authenticator=ctx.authenticate,
        engine=ctx.engine,
        gate=ctx.gate,
    )


def _credentials(request: Request) -> Credentials:
    """The request's credentials; the purpose header checked (:func:`~.edge.purpose_of`:
    :class:`~.edge.PurposeRefused` for an ambiguous, non-UTF-8 or unknown purpose)."""
    ctx = _context_of(request)
    return _scope_credentials(request.scope, ctx, purpose_of(request.scope, ctx.purposes))


PurposeHeaderDoc = Annotated[
    str | None,
    Header(
        alias=PURPOSE_HEADER,
        description=(
            "The purpose (利用目的) of the access: exactly one of the policy's purpose keys "
            "(UTF-8; NFKC-normalised, so full-width forms are accepted). Required where the "
            "route serves several purposes."
        ),
        examples=["P4_tso_operations"],
    ),
]
"""The purpose header as documented in OpenAPI (its value is read from the raw request)."""

BearerDoc = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def request_credentials(
    request: Request, _bearer: BearerDoc = None, _purpose: PurposeHeaderDoc = None
) -> Credentials:
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


def acting_party(
    request: Request, _bearer: BearerDoc = None, _purpose: PurposeHeaderDoc = None
) -> Caller:
    """FastAPI dependency: authenticate the request on a read-only connection of its own (401
    problem if it cannot be). Routes that open a unit of work anyway use
    :func:`request_credentials` and authenticate inside it instead (one transaction)."""
    credentials = _credentials(request)
    with connect_read_only(credentials.engine) as conn:
        return credentials.authenticate(conn)


# --- refusals: authenticate first, record, answer -----------------------------------------------

_CREDENTIAL_DEPENDENCIES: frozenset[Callable[..., Any]] = frozenset(
    {request_credentials, acting_party}
)
STORAGE_RETRY_AFTER_SECONDS = 5


def storage_unavailable(scope: Scope, what: str) -> JSONResponse:
    """503 with ``Retry-After``: the database cannot serve (read-only, full, unreachable)."""
    body = _base(
        503,
        "storage_unavailable",
        f"the database is unavailable ({what}); nothing was changed — retry later",
    )
    body["retry_after"] = STORAGE_RETRY_AFTER_SECONDS
    return problem_response(scope, 503, body, {"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)})


def unexpected_response(scope: Scope, exc: BaseException | None) -> JSONResponse:
    """503 for a storage fault (:func:`~jointuse.core.db.storage_fault`), else a 500 problem
    that names nothing internal (the traceback is logged under the request ID)."""
    fault = storage_fault(exc) if exc is not None else None
    if fault is not None:
        log.warning("storage fault (request %s): %s", request_id_of(scope), fault)
        return storage_unavailable(scope, fault)
    log.error("unexpected error (request %s)", request_id_of(scope), exc_info=exc)
    body = _base(500, "internal_error", "The server could not complete the request.")
    return problem_response(scope, 500, body)


def _note_auth_failure(scope: Scope, ctx: ApiContext | None, reason: object) -> None:
    log_auth_failure(scope, str(reason or "unauthenticated"), request_id_of(scope))
    if ctx is not None and ctx.limiter is not None:
        ctx.limiter.failure(source_of(scope))


async def answer_refusal(
    scope: Scope,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    *,
    recorded: bool = False,
) -> JSONResponse:
    """The response to a refusal (see :mod:`jointuse.core.edge`): on a route that needs
    credentials, authenticate first (401 without valid ones), record an authenticated caller's
    refusal on the ledger unless ``recorded`` (the gate did), answer with ``body`` capped."""
    body = bounded(body)
    ctx = _context_of_scope(scope)
    if status == 401:
        _note_auth_failure(scope, ctx, body.get("reason"))
    if ctx is None or recorded or status in (401, 429) or status >= 500:
        return problem_response(scope, status, body, headers)
    if not needs_credentials(route_of(scope), _CREDENTIAL_DEPENDENCIES):
        return problem_response(scope, status, body, headers)
    credentials = _scope_credentials(scope, ctx, None)
    method = str(scope.get("method", "GET")).upper()
    reason = body.get("reason") if isinstance(body.get("reason"), str) else body.get("code")
    refusal = EdgeRefusal(
        purpose=purpose_for_ledger(scope, ctx.purposes),
        action="read" if method in ("GET", "HEAD", "OPTIONS") else "write",
        path_params=dict(scope.get("path_params") or {}),
        reason=str(reason or f"http_{status}"),
        request_id=credentials.request_id,
    )
    try:
        if ctx.record_refusal is None:  # an app built without a recorder: authenticate only
            with connect_read_only(ctx.engine) as conn:
                credentials.authenticate(conn)
        else:
            await run_unit(
                ctx.engine, ctx.record_refusal, ctx.engine, credentials.authenticate, refusal
            )
    except JointuseError as exc:
        if exc.status != 401:
            raise
        failed = bounded(error_problem(exc)[1])
        _note_auth_failure(scope, ctx, failed.get("reason"))
        return problem_response(scope, 401, failed)
    except Exception as exc:
        return unexpected_response(scope, exc)
    return problem_response(scope, status, body, headers)

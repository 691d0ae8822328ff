"""The HTTP edge's refusals: the purpose header, refusals on the ledger, the security log, the
limit on repeated authentication failures, and bounded problem bodies.

Purpose header (``Jointuse-Purpose``)
    Read from the raw request bytes (:func:`purpose_of`): **one** header at most (two or more are
    ambiguous: 400 ``purpose_ambiguous``), at most :data:`MAX_PURPOSE_BYTES` bytes, decoded as
    **UTF-8** (not Latin-1) and normalised to NFKC, as IDs are (``Ｐ４_tso_operations`` is
    ``P4_tso_operations``); only the optional white space of HTTP (space, tab) around the value is
    dropped, before normalising, so a trailing NBSP (NFKC: a space) is *not* dropped. What is
    then not exactly one of the policy's purposes is refused here (400 ``purpose_unknown`` /
    ``purpose_invalid``, listing the valid purposes), before the policy engine sees it: an
    unknown purpose reaches no cache. A missing purpose goes to the gate (some routes default
    one; others are refused there with ``purpose_missing``).

Refusals are on the ledger
    Every refusal of a request to a route that needs credentials (it depends on
    :func:`jointuse.core.http.request_credentials` or :func:`~jointuse.core.http.acting_party`)
    is answered by :func:`answer_refusal`, which **authenticates first**: no valid credentials →
    401 (whatever else is wrong with the request: an unauthenticated caller learns nothing about
    its input); an authenticated caller's refusal — request validation (422), body too large
    (413), a malformed path parameter, a bad purpose header (400), an unknown ID (404) — is
    appended to the access ledger (the recorder the composition root injects,
    :func:`jointuse.access.refusals.record_refusal`) with its reason code, then answered.
    Policy refusals are recorded by the gate itself (``recorded=True``). Refusals on public
    routes (the parties registry, unknown paths) involve no credentials and are not recorded.

Security log
    Every 401 is logged to the logger ``jointuse.security`` (WARNING) with the source address,
    the time (UTC), the reason code, method, path and request ID — never the credentials.

Repeated failures
    :class:`FailureLimiter` counts 401s per source address; a source with ``limit`` failures
    within ``window`` seconds is answered **429** with ``Retry-After`` (seconds until its oldest
    counted failure leaves the window) on every request but ``/healthz`` and ``/readyz``, by
    :class:`FailureLimitMiddleware`, before anything else runs. In-process and bounded (at most
    :data:`MAX_TRACKED_SOURCES` addresses); configured by ``JOINTUSE_AUTH_FAILURE_LIMIT``
    (default 20) and ``JOINTUSE_AUTH_FAILURE_WINDOW`` (seconds, default 60). Behind a proxy the
    source is what the server reports (uvicorn's ``--forwarded-allow-ips``).

Bounded problem bodies
    :func:`bounded` caps a problem body: strings at :data:`MAX_TEXT` characters, lists at
    :data:`MAX_LIST` entries (with ``truncated``), so a response to a bad request is never larger
    than :data:`MAX_PROBLEM_BYTES`.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from fastapi.routing import iter_route_contexts
from sqlalchemy import Connection, Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from jointuse.core.errors import JointuseError

security_log = logging.getLogger("jointuse.security")

PURPOSE_HEADER_BYTES = b"jointuse-purpose"
MAX_PURPOSE_BYTES = 128
MAX_TEXT = 500
MAX_LIST = 25
MAX_PROBLEM_BYTES = 4096
MAX_TRACKED_SOURCES = 10_000
DEFAULT_FAILURE_LIMIT = 20
DEFAULT_FAILURE_WINDOW = 60.0
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz"})
_OWS = b" \t"


class PurposeRefused(JointuseError):
    """The ``Jointuse-Purpose`` header is ambiguous, not UTF-8, or not a purpose (HTTP 400).

    ``reason``: ``purpose_ambiguous``, ``purpose_invalid`` or ``purpose_unknown``; ``given``: the
    normalised value as far as it could be read (for the ledger), at most 64 characters."""

    status = 400

    def __init__(self, reason: str, message: str, *, given: str, valid: list[str]) -> None:
        super().__init__(message, field="Jointuse-Purpose", valid=valid, reason=reason)
        self.code = reason
        self.reason = reason
        self.given = given


def _short(text: str, limit: int = 64) -> str:
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def raw_purposes(scope: Scope) -> list[bytes]:
    """Every ``Jointuse-Purpose`` header of the request, as sent (bytes)."""
    return [
        bytes(v) for k, v in scope.get("headers", ()) if bytes(k).lower() == PURPOSE_HEADER_BYTES
    ]


def purpose_of(scope: Scope, purposes: tuple[str, ...]) -> str | None:
    """The request's purpose, one of ``purposes``, or None when the header is absent or empty;
    :class:`PurposeRefused` otherwise (see the module docstring)."""
    values = raw_purposes(scope)
    if not values:
        return None
    valid = list(purposes)
    if len(values) > 1:
        raise PurposeRefused(
            "purpose_ambiguous",
            f"{len(values)} Jointuse-Purpose headers: name exactly one purpose",
            given="(several)",
            valid=valid,
        )
    raw = values[0].strip(_OWS)
    if not raw:
        return None
    if len(raw) > MAX_PURPOSE_BYTES:
        raise PurposeRefused(
            "purpose_unknown",
            f"the Jointuse-Purpose header is {len(raw)} bytes long; a purpose is at most "
            f"{MAX_PURPOSE_BYTES}",
            given=f"({len(raw)} bytes)",
            valid=valid,
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PurposeRefused(
            "purpose_invalid",
            f"the Jointuse-Purpose header is not UTF-8 (byte {exc.start + 1})",
            given="(not UTF-8)",
            valid=valid,
        ) from None
    purpose = unicodedata.normalize("NFKC", text)
    if purpose not in purposes:
        raise PurposeRefused(
            "purpose_unknown",
            f"unknown purpose {_short(purpose)!r}; valid purposes: {', '.join(valid)}",
            given=_short(purpose),
            valid=valid,
        )
    return purpose


def purpose_for_ledger(scope: Scope, purposes: tuple[str, ...]) -> str | None:
    """The purpose to record with a refusal: the valid one, what could be read of an invalid
    one, or None when absent."""
    try:
        return purpose_of(scope, purposes)
    except PurposeRefused as exc:
        return exc.given


# --- bounded problem bodies ---------------------------------------------------------------------


def _cap(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"
    if isinstance(value, list):
        return [_cap(v) for v in value[:MAX_LIST]]
    if isinstance(value, dict):
        return {k: _cap(v) for k, v in value.items()}
    return value


def bounded(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with strings and lists capped (module docstring); long lists get a
    ``truncated`` object naming how many entries each had."""
    truncated = {k: len(v) for k, v in body.items() if isinstance(v, list) and len(v) > MAX_LIST}
    out: dict[str, Any] = _cap(body)
    if truncated:
        out["truncated"] = truncated
    return out


# --- repeated authentication failures -----------------------------------------------------------


class FailureLimiter:
    """Authentication failures per source in a sliding window (thread-safe, bounded)."""

    def __init__(
        self,
        limit: int = DEFAULT_FAILURE_LIMIT,
        window: float = DEFAULT_FAILURE_WINDOW,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_sources: int = MAX_TRACKED_SOURCES,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit and window must be positive")
        self.limit = limit
        self.window = window
        self.max_sources = max_sources
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    def failure(self, source: str) -> None:
        """Count one failure of ``source``."""
        now = self._clock()
        with self._lock:
            times = self._failures.pop(source, None)
            if times is None:
                if len(self._failures) >= self.max_sources:
                    self._evict(now)
                times = deque(maxlen=self.limit)
            times.append(now)
            self._failures[source] = times  # most recent last

    def retry_after(self, source: str) -> int | None:
        """Seconds ``source`` must wait (its failures fill the window), or None."""
        now = self._clock()
        with self._lock:
            times = self._failures.get(source)
            if times is None or len(times) < self.limit:
                return None
            wait = times[0] + self.window - now
            if wait <= 0:
                return None
            return max(1, int(wait + 0.999))

    def _evict(self, now: float) -> None:
        stale = [s for s, t in self._failures.items() if t[-1] + self.window <= now]
        for source in stale:
            del self._failures[source]
        while len(self._failures) >= self.max_sources:  # the least recently failing first
            del self._failures[next(iter(self._failures))]


def source_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def log_auth_failure(scope: Scope, reason: str, request_id: str | None) -> None:
    """One line on the security log (never the credentials)."""
    security_log.warning(
        "authentication failed: source=%s time=%s reason=%s method=%s path=%s request_id=%s",
        source_of(scope),
        datetime.now(UTC).isoformat(timespec="milliseconds"),
        reason,
        scope.get("method", "?"),
        _short(str(scope.get("path", "")), 200),
        request_id,
    )


class FailureLimitMiddleware:
    """Answer 429 (``Retry-After``) to a source whose authentication failures fill the window."""

    def __init__(self, app: ASGIApp, limiter: FailureLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") not in UNLIMITED_PATHS:
            wait = self.limiter.retry_after(source_of(scope))
            if wait is not None:
                from jointuse.core.problems import _base, problem_response

                security_log.warning(
                    "rate-limited: source=%s retry_after=%ss path=%s",
                    source_of(scope),
                    wait,
                    _short(str(scope.get("path", "")), 200),
                )
                body = _base(
                    429,
                    "too_many_failures",
                    f"too many authentication failures from this address; retry in {wait} s",
                )
                body["retry_after"] = wait
                response = problem_response(scope, 429, body, {"Retry-After": str(wait)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# --- refusals on the ledger ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EdgeRefusal:
    """A refusal decided at the edge, to be recorded for the authenticated caller."""

    purpose: str | None
    action: Literal["read", "write"]
    path_params: Mapping[str, str]
    reason: str
    request_id: str


class RefusalRecorder(Protocol):
    """:func:`jointuse.access.refusals.record_refusal` (injected by the composition root):
    authenticate with ``authenticate`` in a unit of work of its own and append the refusal."""

    def __call__(
        self,
        engine: Engine,
        authenticate: Callable[[Connection], object],
        refusal: EdgeRefusal,
    ) -> None: ...


def route_of(scope: Scope) -> Any:
    """The route that serves ``scope`` (set by the router, else matched here by path and method,
    its path parameters then set on ``scope``), or None."""
    route = scope.get("route")
    if route is not None:
        return route
    app = scope.get("app")
    router = getattr(app, "router", None)
    path = str(scope.get("path", ""))
    method = str(scope.get("method", "GET")).upper()
    for candidate in iter_route_contexts(getattr(router, "routes", ())):
        regex = getattr(candidate, "path_regex", None)
        methods = getattr(candidate, "methods", None)
        found = regex.fullmatch(path) if regex is not None else None
        if found is not None and (not methods or method in methods):
            scope.setdefault("path_params", found.groupdict())
            return candidate
    return None


def needs_credentials(route: Any, markers: frozenset[Callable[..., Any]]) -> bool:
    """True when ``route`` depends (at any depth) on one of ``markers``."""

    def walk(dependant: Any) -> bool:
        return any(d.call in markers or walk(d) for d in getattr(dependant, "dependencies", ()))

    return route is not None and walk(getattr(route, "dependant", None))

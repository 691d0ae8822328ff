"""The request guards of the HTTP API (ASGI middleware), installed by
:func:`install_middleware`: the request ID and the last-resort error answer
(:class:`RequestContextMiddleware`, outermost), the limit on repeated authentication failures
(:class:`~jointuse.core.edge.FailureLimitMiddleware`, 429) and the body size limit
(:class:`BodySizeLimitMiddleware`, 413). See :mod:`jointuse.core.http` (which re-exports these
names) for what each guarantees.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jointuse.core.edge import FailureLimiter, FailureLimitMiddleware
from jointuse.core.faults import storage_fault
from jointuse.core.problems import _base
from jointuse.core.request_ids import caller_request_id_set

log = logging.getLogger("jointuse.core.http")

DEFAULT_MAX_BODY_BYTES = 64 * 1024

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_CALLER_REQUEST_ID = 128
_TOKEN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")


def caller_request_id(raw: bytes) -> str | None:
    """The caller's ``X-Request-ID`` made safe (:mod:`jointuse.core.http`, "Request IDs"): kept as
    given when it is a short token, else every other byte percent-encoded and the result cut at
    128 characters; None when empty."""
    value = raw.strip(b" \t")
    if not value:
        return None
    text = value.decode("latin-1")
    if _REQUEST_ID.fullmatch(text):
        return text
    out: list[str] = []
    length = 0
    for byte in value:
        piece = chr(byte) if byte in _TOKEN_BYTES else f"%{byte:02X}"
        if length + len(piece) > MAX_CALLER_REQUEST_ID:
            break
        out.append(piece)
        length += len(piece)
    return "".join(out)


def _raw_header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_problem(
    scope: Scope, receive: Receive, send: Send, status: int, body: dict[str, Any]
) -> None:
    """Answer a refusal decided by a middleware (recorded for an authenticated caller)."""
    from jointuse.core.http import answer_refusal

    response = await answer_refusal(scope, status, body)
    await response(scope, receive, send)


class RequestContextMiddleware:
    """Outermost guard: request IDs in and out; any exception escaping the app → 500 problem.

    Sets ``scope["state"]["request_id"]`` (the server's own, always) and
    ``["caller_request_id"]`` (the caller's ``X-Request-ID``, made safe, or None) and answers
    with both headers (``X-Request-ID``, ``X-Caller-Request-ID``).

    Unexpected exceptions are logged with their traceback and answered with a problem that names
    nothing internal; they are not re-raised (the request has been answered).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _raw_header(scope, b"x-request-id")
        caller = None if given is None else caller_request_id(given)
        request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["caller_request_id"] = caller
        ours = [(b"x-request-id", request_id.encode("ascii"))]
        if caller is not None:
            ours.append((b"x-caller-request-id", caller.encode("ascii")))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"x-request-id", b"x-caller-request-id")
                ]
                headers += ours
                message["headers"] = headers
            await send(message)

        try:
            with caller_request_id_set(caller):
                await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if storage_fault(exc) is None:
                log.exception("unexpected error (request %s)", request_id)
            if started:
                raise
            from jointuse.core.http import unexpected_response

            await unexpected_response(scope, sys.exc_info()[1])(scope, receive, send)


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


def install_middleware(
    app: FastAPI,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    limiter: FailureLimiter | None = None,
) -> None:
    """Add the body limit, the limit on repeated authentication failures (429), then the
    request context (outermost)."""
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    if limiter is not None:
        app.add_middleware(FailureLimitMiddleware, limiter=limiter)
    app.add_middleware(RequestContextMiddleware)

"""The caller's own request ID, as request-scoped context (no I/O, no dependencies).

The HTTP layer (:class:`jointuse.core.http.RequestContextMiddleware`) gives every request the
server's own request ID, which the routes pass down explicitly (``request_id=``) to the use case
and the gate. The caller's ``X-Request-ID``, made safe, is kept beside it for the ledger
(``caller_request_id``). No use case reads that value — it only travels from the edge to the
ledger entry — so rather than add a parameter to every use case of every area, the middleware
sets it here for the request (a :class:`~contextvars.ContextVar`: each request's task has its
own, and the thread pool that runs a unit of work, ``anyio.to_thread``, carries it over) and
:func:`jointuse.access.gate.ledger_entry` reads it when not given one explicitly. Outside a
request (CLI, batch jobs, tests) it is None.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_CALLER_REQUEST_ID: ContextVar[str | None] = ContextVar("caller_request_id", default=None)


def current_caller_request_id() -> str | None:
    """The caller's own request ID of the request being served, if any."""
    return _CALLER_REQUEST_ID.get()


@contextmanager
def caller_request_id_set(value: str | None) -> Iterator[None]:
    """``value`` is the caller's request ID inside the block."""
    token = _CALLER_REQUEST_ID.set(value)
    try:
        yield
    finally:
        _CALLER_REQUEST_ID.reset(token)

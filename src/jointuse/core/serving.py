"""Serving the app with uvicorn: a time limit on receiving each request head.

uvicorn bounds a request head's *size* (h11's incomplete-event limit, 16 KiB: a larger head is a
400) and closes a keep-alive connection idle after a response (``timeout_keep_alive``), but it
has no limit on the *time* a client takes to send a head: a connection that sends nothing, or a
partial head, or one byte now and then ("slowloris"), is held open for ever, and enough of them
exhaust the server's sockets. :class:`HeaderTimeoutProtocol` — uvicorn's h11 protocol with a
timer — closes a connection whose request head is not complete ``header_timeout`` seconds after
the connection was made, or after the previous response on a keep-alive connection. The timer
is not re-armed by the bytes that arrive (a trickle cannot extend it); it is stopped when the
head is complete, so a slow request *body* or a slow handler is not cut by it.

:func:`server_config` builds the uvicorn configuration every server of jointuse uses
(``jointuse serve``, the test and demo server of :mod:`jointuse.demo.live`); the limit is
``jointuse serve --header-timeout`` / ``JOINTUSE_HEADER_TIMEOUT``
(:data:`DEFAULT_HEADER_TIMEOUT` seconds by default).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import h11
from uvicorn import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_HEADER_TIMEOUT = 5.0
"""Seconds a client has to send a complete request head (from connecting, or from the previous
response on a keep-alive connection)."""

log = logging.getLogger(__name__)


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is late (module
    docstring). Subclassed per limit by :func:`header_timeout_protocol`."""

    header_timeout: ClassVar[float] = DEFAULT_HEADER_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _awaiting_head(self) -> bool:
        # h11 keeps the client's side IDLE until a whole request head has been parsed.
        return self.conn.their_state is h11.IDLE

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._awaiting_head():
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._awaiting_head():
            self._arm()  # the next request head on this keep-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._awaiting_head():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "unknown client"
        log.info(
            "closing the connection of %s: no complete request head within %.3g s",
            client,
            self.header_timeout,
        )
        self.transport.close()


def header_timeout_protocol(seconds: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class with a limit of ``seconds`` (uvicorn instantiates the class it is
    given, so the limit travels as a class attribute)."""
    if not seconds > 0:
        raise ValueError(f"header timeout must be a positive number of seconds, got {seconds!r}")
    return type(
        "HeaderTimeoutProtocol",
        (HeaderTimeoutProtocol,),
        {"header_timeout": float(seconds), "__module__": __name__},
    )


def server_config(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    **kwargs: Any,
) -> Config:
    """The uvicorn configuration of a jointuse server: h11 with the head time limit."""
    return Config(app, host=host, port=port, http=header_timeout_protocol(header_timeout), **kwargs)

"""A real HTTP server for tests and demos: the app served by uvicorn on a free port of
127.0.0.1, in a thread of this process (real sockets, real concurrency: uvicorn's event loop hands
each request to the thread pool, so requests from several client threads overlap in the
database)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from jointuse.core.net import free_port
from jointuse.core.serving import DEFAULT_HEADER_TIMEOUT, server_config


@contextmanager
def serve(app: FastAPI, *, header_timeout: float = DEFAULT_HEADER_TIMEOUT) -> Iterator[str]:
    """Serve ``app`` as ``jointuse serve`` does (:func:`jointuse.core.serving.server_config`,
    with its limit on the time to send a request head); yields its base URL; stops the server
    on exit."""
    port = free_port()
    server = uvicorn.Server(
        server_config(
            app,
            host="127.0.0.1",
            port=port,
            header_timeout=header_timeout,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)

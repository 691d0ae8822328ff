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


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app``; yields its base URL; stops the server on exit."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
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

"""A real webhook receiver for tests: ``http.server`` on a free port of 127.0.0.1, in a thread.

It verifies each push's signature with the secret it is given (as a party's receiver would, with
:func:`jointuse.messages.signing.verify_signature`), records every request — verified or not —
and answers what ``behaviour`` says for the n-th request: a status, after an optional delay.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jointuse.messages.signing import SignatureError, verify_signature

#: (n-th request, 1-based; message ID header) → (status, seconds to wait before answering)
Behaviour = Callable[[int, str], tuple[int, float]]


@dataclass
class Received:
    message_id: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    reason: str | None
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    secret: str | list[str] | None = None
    now: Callable[[], float] | None = None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.received]

    def wait_for(self, n: int, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.received)} pushes received, {n} expected")


def always(status: int = 204, delay: float = 0.0) -> Behaviour:
    return lambda n, message_id: (status, delay)


@contextmanager
def receiver(behaviour: Behaviour | None = None) -> Iterator[Receiver]:
    """Serve a receiver; yields it (set ``secret`` before pushes arrive)."""
    answer = behaviour or always()
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k: v for k, v in self.headers.items()}
            rec = state["r"]
            verified, reason = False, "no secret"
            if rec.secret is not None:
                try:
                    now = rec.now() if rec.now is not None else None
                    verify_signature(rec.secret, body=body, headers=headers, now=now)
                    verified, reason = True, None
                except SignatureError as exc:
                    reason = exc.reason
            message_id = headers.get("Jointuse-Message-Id", "")
            with rec.lock:
                rec.received.append(
                    Received(message_id, headers, body, verified, reason, time.monotonic())
                )
                n = len(rec.received)
            status, delay = answer(n, message_id)
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status if verified else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:  # the sender gave up waiting (a timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    state["r"] = Receiver(url=f"http://127.0.0.1:{port}/hook")
    thread = threading.Thread(target=server.serve_forever, name="test-receiver", daemon=True)
    thread.start()
    try:
        yield state["r"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)

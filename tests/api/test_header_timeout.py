"""Slow or silent clients are cut after the header timeout, over real sockets: the real app served
by uvicorn (:func:`jointuse.demo.live.serve`, the configuration ``jointuse serve`` uses) on a
free port of 127.0.0.1.

The issue found 42 connections held open past 6 s with no complete header. Here 50 connections
send a partial head, 5 send nothing and one trickles a byte at a time: every one is closed by the
server (the client reads end-of-file) well before a generous deadline, while a normal request
— also one whose head arrives in pieces within the limit, and one on a kept-alive connection —
still succeeds, and a handler slower than the limit is not cut (the limit is on the head only).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from typer.testing import CliRunner

from jointuse.app import create_app
from jointuse.cli import app as cli
from jointuse.core.serving import (
    DEFAULT_HEADER_TIMEOUT,
    HeaderTimeoutProtocol,
    header_timeout_protocol,
    server_config,
)
from jointuse.demo.live import serve

LIMIT = 1.0
#: How long a test waits for the server to close a connection before calling it held open: far
#: past the limit, so that a loaded machine does not make the test flaky; a connection that is
#: never cut blocks until then and fails.
PATIENCE = 20.0
PARTIAL_HEAD = b"GET /v1/parties HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=PATIENCE)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Read until the server closes (end of file or reset); False if it holds on past PATIENCE."""
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    finally:
        sock.close()


@pytest.fixture
def base(engine: Engine) -> Iterator[str]:
    with serve(create_app(engine=engine, run_sealer=False, environ={}), header_timeout=LIMIT) as b:
        yield b


def test_silent_and_partial_heads_are_cut_and_normal_requests_still_succeed(base: str) -> None:
    partial = []
    for _ in range(50):
        sock = _connect(base)
        sock.sendall(PARTIAL_HEAD)
        partial.append(sock)
    silent = [_connect(base) for _ in range(5)]
    trickle = _connect(base)

    with httpx.Client(base_url=base, timeout=PATIENCE) as client:
        assert client.get("/v1/parties").status_code == 200  # served while they wait

    deadline = time.monotonic() + 3 * LIMIT
    trickle_cut = False
    try:
        for byte in PARTIAL_HEAD * 4:  # one byte every 0.05 s: ~11 s if never cut
            trickle.sendall(bytes([byte]))
            time.sleep(0.05)
            if time.monotonic() > deadline:
                break
    except (BrokenPipeError, ConnectionResetError):
        trickle_cut = True
    assert trickle_cut or _closed_by_server(trickle)
    assert all(_closed_by_server(s) for s in partial), "a partial head was held open"
    assert all(_closed_by_server(s) for s in silent), "a silent connection was held open"

    with httpx.Client(base_url=base, timeout=PATIENCE) as client:
        assert client.get("/v1/parties").status_code == 200


def test_a_head_sent_in_pieces_within_the_limit_is_served(base: str) -> None:
    sock = _connect(base)
    try:
        for piece in (b"GET /v1/parties HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(LIMIT / 5)
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
    finally:
        sock.close()


def test_a_kept_alive_connection_gets_a_new_limit_for_its_next_head(base: str) -> None:
    sock = _connect(base)
    sock.sendall(b"GET /v1/parties HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    sock.sendall(PARTIAL_HEAD)  # the next request's head, never finished
    assert _closed_by_server(sock)


def test_a_head_over_16_kib_is_refused_at_once(base: str) -> None:
    sock = _connect(base)
    try:
        sock.sendall(PARTIAL_HEAD + b"X-Padding: " + b"x" * 17 * 1024 + b"\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 400 ")
    finally:
        sock.close()


def test_a_handler_slower_than_the_limit_is_not_cut() -> None:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(2 * LIMIT)
        return {"done": True}

    with serve(app, header_timeout=LIMIT) as b, httpx.Client(base_url=b, timeout=PATIENCE) as c:
        response = c.get("/slow")
    assert response.status_code == 200 and response.json() == {"done": True}


def test_the_limit_is_configurable_and_must_be_positive() -> None:
    config = server_config(FastAPI(), header_timeout=2.5)
    assert config.http.header_timeout == 2.5  # type: ignore[union-attr]
    assert server_config(FastAPI()).http.header_timeout == DEFAULT_HEADER_TIMEOUT  # type: ignore[union-attr]
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="positive"):
            header_timeout_protocol(bad)


def test_serve_takes_the_limit_from_its_option_or_the_environment(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []

    def run(self: uvicorn.Server, *args: object, **kwargs: object) -> None:
        protocol = self.config.http
        assert isinstance(protocol, type) and issubclass(protocol, HeaderTimeoutProtocol)
        seen.append(protocol.header_timeout)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setenv("JOINTUSE_LEDGER_UNAUTHENTICATED", "1")  # no key needed for this check
    runner = CliRunner()
    serve_args = ["serve", "--database-url", database_url]
    assert runner.invoke(cli, serve_args).exit_code == 0
    monkeypatch.setenv("JOINTUSE_HEADER_TIMEOUT", "2.5")
    assert runner.invoke(cli, serve_args).exit_code == 0
    assert runner.invoke(cli, [*serve_args, "--header-timeout", "0.75"]).exit_code == 0
    assert seen == [DEFAULT_HEADER_TIMEOUT, 2.5, 0.75]
    refused = runner.invoke(cli, [*serve_args, "--header-timeout", "0"])
    assert refused.exit_code == 2 and "--header-timeout" in refused.output
    monkeypatch.setenv("JOINTUSE_HEADER_TIMEOUT", "soon")
    refused = runner.invoke(cli, serve_args)
    assert refused.exit_code == 2 and "JOINTUSE_HEADER_TIMEOUT" in refused.stderr

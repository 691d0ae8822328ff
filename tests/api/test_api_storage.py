"""Storage faults and readiness, on SQLite and PostgreSQL (issue 12).

A read-only or full database is answered **503** with ``Retry-After`` (was: 500), and the app
recovers by itself once the storage is writable again (was: 385 of 385 writes still failing —
connections opened during the spell stayed read-only; see :mod:`jointuse.core.faults`).

The read-only spell, SQLite
    The database file is made read-only — ``chmod 0444``, or ``chattr +i`` when the tests run as
    root (root ignores file modes). Connections already open keep writing through their file
    descriptors, so the pool is emptied at the start of the spell (``engine.dispose()``), as
    recycling or a burst of load would do: the app then opens connections while the file is
    read-only, which is the case that used to need a restart.
The read-only spell, PostgreSQL
    ``ALTER DATABASE … SET default_transaction_read_only = on`` and the app's sessions ended
    (``pg_terminate_backend``, as a failover would): the app reconnects into read-only sessions;
    then ``RESET``, after which those sessions would stay read-only unless replaced.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from api_helpers import POINT, World, assert_problem, supply_point_body
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from jointuse.app import create_app
from jointuse.core.settings import Settings

P4 = "P4_tso_operations"


@contextmanager
def _sqlite_read_only(path: Path) -> Iterator[None]:
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make the file read-only")
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"chattr +i not supported here: {made.stderr.decode()[:200]}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)


@contextmanager
def _postgres_read_only(request: pytest.FixtureRequest, engine: Engine) -> Iterator[None]:
    server: Any = request.getfixturevalue("_postgres")
    name = engine.url.database
    admin = server.admin

    def end_sessions() -> None:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )

    admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    end_sessions()
    try:
        yield
    finally:
        admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')


@contextmanager
def read_only_spell(request: pytest.FixtureRequest, engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "sqlite":
        assert engine.url.database
        engine.dispose()  # see the module docstring
        with _sqlite_read_only(Path(engine.url.database)):
            yield
    else:
        with _postgres_read_only(request, engine):
            yield


def put_point(w: World, client: TestClient, n: int) -> Any:
    point = f"03{n:020d}"
    return client.put(
        f"/v1/supply-points/{point}", json=supply_point_body(), headers=w.headers("tso-03")
    )


def test_read_only_database_is_503_and_recovers_without_restart(
    registered: World, request: pytest.FixtureRequest
) -> None:
    w = registered
    client = w.client
    assert client.get("/readyz").status_code == 200
    with read_only_spell(request, w.engine):
        statuses = []
        for n in range(1, 6):
            r = put_point(w, client, n)
            statuses.append(r.status_code)
            if r.status_code == 503:
                body = assert_problem(r, 503, "storage_unavailable")
                assert r.headers["retry-after"] == str(body["retry_after"])
        r = client.get(f"/v1/supply-points/{POINT}/customer", headers=w.headers("tso-03", P4))
        statuses.append(r.status_code)
        assert set(statuses) == {503}, statuses
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"]
        assert ready.json()["checks"]["database"] is not True
        assert client.get("/healthz").status_code == 200
    # Writable again: every write succeeds, with no restart.
    first = put_point(w, client, 10)
    assert first.status_code == 201, first.text
    statuses = [put_point(w, client, n).status_code for n in range(11, 30)]
    assert statuses == [201] * 19, statuses
    assert client.get("/readyz").status_code == 200


def test_full_database_is_503_and_recovers(world: World, backend: str) -> None:
    """SQLite: ``max_page_count`` caps the file at its current size (SQLITE_FULL, as a full
    disk gives); the cap is lifted and the pool's connections replaced."""
    if backend != "sqlite":
        pytest.skip("a full disk is simulated with SQLite's max_page_count only")
    w = world

    def cap(dbapi_connection: Any, _record: object) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(w.engine, "connect", cap)
    w.engine.dispose()
    try:
        statuses = {put_point(w, w.client, n).status_code for n in range(1, 80)}
    finally:
        event.remove(w.engine, "connect", cap)
        w.engine.dispose()
    assert 503 in statuses and 500 not in statuses, statuses
    assert put_point(w, w.client, 100).status_code == 201


def test_healthz_and_readyz(world: World) -> None:
    assert world.client.get("/healthz").json() == {"status": "alive"}
    r = world.client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {
        "database": True,
        "migrations": True,
        "ledger_sealer": "not run by this app",
    }
    settings = Settings(database_url=str(world.engine.url), ledger_seal_interval=0.05)
    with TestClient(create_app(settings, engine=world.engine, run_sealer=True)) as client:
        assert client.get("/readyz").json()["checks"]["ledger_sealer"] is True


def test_readyz_names_migrations_not_current(empty_database_url: str) -> None:
    from jointuse.core.db import make_engine

    engine = make_engine(empty_database_url)
    try:
        with TestClient(create_app(engine=engine, run_sealer=False, environ={})) as client:
            r = client.get("/readyz")
            assert r.status_code == 503
            assert "head is" in str(r.json()["checks"]["migrations"])
            assert client.get("/healthz").status_code == 200
    finally:
        engine.dispose()

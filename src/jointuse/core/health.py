"""Liveness and readiness: ``GET /healthz`` and ``GET /readyz`` (no credentials, no personal data).

``/healthz``
    200 ``{"status": "alive"}`` whenever the process answers (it touches nothing else).
``/readyz``
    200 when the service can do its work, else **503** with ``Retry-After``, and in both cases the
    checks by name (``true`` / a short reason):

    * ``database``: reachable and **writable** — a write transaction is begun and a harmless
      write made and rolled back (SQLite: ``BEGIN IMMEDIATE`` and a rewrite of the header's
      ``user_version`` to its own value, which a read-only file refuses; PostgreSQL: the
      transaction is not read-only and the role may insert into the ledger);
    * ``migrations``: the database is at the head revision of the shipped migrations;
    * ``ledger_sealer``: the background sealer runs and its last run did not fail (a server
      built without one, e.g. in tests, reports ``"not run by this app"`` and is not held
      unready for it).

Both answer on every path of :class:`~jointuse.core.edge.FailureLimitMiddleware` (never 429).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from jointuse.core.db import current_revisions
from jointuse.core.faults import retire_pool_connections, stale_connection, storage_fault
from jointuse.core.periodic import PeriodicWorker

READY_RETRY_AFTER_SECONDS = 5


@functools.cache
def head_revisions() -> tuple[str, ...]:
    """The head revision(s) of the migrations shipped in the package."""
    from alembic.script import ScriptDirectory

    from jointuse.core.db import alembic_config

    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def probe_writable(engine: Engine) -> None:
    """Raise unless ``engine``'s database takes a write now (module docstring); changes nothing."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            driver: Any = conn.connection.driver_connection
            version = int(driver.execute("PRAGMA user_version").fetchone()[0])
            driver.execute("BEGIN IMMEDIATE")
            try:
                driver.execute(f"PRAGMA user_version = {version}")
            finally:
                driver.execute("ROLLBACK")
            return
        with conn.begin():
            read_only = conn.exec_driver_sql("SHOW transaction_read_only").scalar_one()
            may_insert = conn.exec_driver_sql(
                "SELECT has_table_privilege('access_ledger', 'INSERT')"
            ).scalar_one()
            if read_only != "off":
                fault = RuntimeError("the database is read-only")
                # A session opened read-only keeps that default: have the pool replace it.
                retire_pool_connections(engine, None, fault)
                raise fault
            if not may_insert:
                raise RuntimeError("the role may not insert into the access ledger")


def _database(engine: Engine) -> bool | str:
    try:
        probe_writable(engine)
    except Exception as exc:
        if stale_connection(exc):  # opened during the fault: have the pool replace it
            retire_pool_connections(engine, None, exc)
        return storage_fault(exc) or f"{type(exc).__name__}: {str(exc)[:120]}"
    return True


def _migrations(engine: Engine) -> bool | str:
    try:
        current = current_revisions(engine)
    except Exception as exc:
        return storage_fault(exc) or f"{type(exc).__name__}: {str(exc)[:120]}"
    heads = head_revisions()
    if current != heads:
        return f"database at {', '.join(current) or 'no revision'}; head is {', '.join(heads)}"
    return True


def _sealer(sealer: PeriodicWorker | None) -> bool | str:
    if sealer is None:
        return "not run by this app"
    if not sealer.running:
        return "not running"
    if sealer.consecutive_failures:
        return f"failing ({sealer.consecutive_failures} runs in a row)"
    return True


def readiness(engine: Engine, sealer: PeriodicWorker | None) -> dict[str, bool | str]:
    """The readiness checks by name (blocking: run it in a worker thread)."""
    return {
        "database": _database(engine),
        "migrations": _migrations(engine),
        "ledger_sealer": _sealer(sealer),
    }


def health_router(engine: Engine, sealer: Callable[[], PeriodicWorker | None]) -> APIRouter:
    """``/healthz`` and ``/readyz`` for ``engine``; ``sealer()`` gives the running sealer."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @router.get(
        "/readyz",
        summary="Readiness: database writable, migrations current, ledger sealer running",
        responses={503: {"description": "Not ready: the failing checks are named"}},
    )
    async def readyz() -> JSONResponse:
        worker = sealer()
        checks = await anyio.to_thread.run_sync(readiness, engine, worker)
        ready = all(
            v is True or (k == "ledger_sealer" and worker is None) for k, v in checks.items()
        )
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        if ready:
            return JSONResponse(body)
        return JSONResponse(
            body, status_code=503, headers={"Retry-After": str(READY_RETRY_AFTER_SECONDS)}
        )

    return router

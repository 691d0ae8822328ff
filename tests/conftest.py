"""Shared fixtures: every database test runs on SQLite **and** PostgreSQL.

Fixtures (all function-scoped unless noted)
-------------------------------------------
``backend``
    ``"sqlite"`` or ``"postgresql"``: the parameter every database fixture below is run with.
    Tests on PostgreSQL carry the marker ``postgresql`` (deselect with ``-m "not postgresql"``).
``database_url``
    URL of a fresh database for this one test, **already migrated to head** (every area's
    migrations). SQLite: a file in the test's ``tmp_path``. PostgreSQL: a database
    ``jointuse_test_<worker>_<pid>_<random>_<n>`` on 127.0.0.1:5432, user ``postgres``, dropped
    after the test.
``empty_database_url``
    The same, but not migrated (for migration tests).
``engine``
    ``make_engine(database_url)``; disposed after the test.
``uow``
    A factory: ``with uow() as u: ...`` is ``UnitOfWork(engine)`` (``uow(read_only=True)`` too).

Isolation strategy: a fresh database per test, cloned from a migrated template
------------------------------------------------------------------------------
Migrations run **once per session per backend** (per xdist worker: each worker has its own
template, so ``-n 2`` is safe). Each test then gets its own copy: SQLite copies the template file
(about a millisecond); PostgreSQL runs ``CREATE DATABASE … TEMPLATE …`` (some 30 ms) and drops it
afterwards (about 15 ms). We chose this over the alternatives because:

* truncating tables between tests is impossible: the access ledger refuses ``DELETE`` and
  ``TRUNCATE`` by trigger, on purpose;
* an outer transaction rolled back at the end (SAVEPOINT pattern) hides every commit from other
  connections, but the ledger sealer, ``verify``, concurrent-thread tests and the HTTP app open
  their own connections and transactions and must see committed data;
* one database per module would let tests in a module see each other's ledger entries.

So tests may commit, open several connections, use threads, even drop triggers (tamper tests):
nothing leaks into the next test.

PostgreSQL availability
-----------------------
The admin connection is ``host=127.0.0.1 port=5432 user=postgres dbname=postgres`` (trust
authentication), or ``JOINTUSE_TEST_POSTGRES`` (a libpq connection string) when set. If the server
does not answer: with ``CI`` set to ``true``/``1``/``yes`` every PostgreSQL test **fails** (in CI
PostgreSQL is required); otherwise the PostgreSQL tests are skipped with the reason
``PostgreSQL not available …`` and a notice is printed at the end of the run.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from jointuse.core.db import UnitOfWork, make_engine, upgrade

PG_UNAVAILABLE = "PostgreSQL not available"
_DEFAULT_PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: runs against the PostgreSQL test server")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    reasons = {
        str(r.longrepr[2])
        for r in skipped
        if isinstance(r.longrepr, tuple) and PG_UNAVAILABLE in str(r.longrepr[2])
    }
    if reasons:
        terminalreporter.write_sep("=", "PostgreSQL tests skipped", yellow=True)
        for reason in sorted(reasons):
            terminalreporter.write_line(f"NOTICE: {reason}")
        terminalreporter.write_line(
            "NOTICE: only SQLite was tested. Start PostgreSQL on 127.0.0.1:5432 (user postgres, "
            "trust) or set JOINTUSE_TEST_POSTGRES; with CI=true these tests fail instead."
        )


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _run_id() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{worker}_{os.getpid()}_{secrets.token_hex(3)}"


class _PostgresServer:
    """The admin connection of the test server; creates and drops throwaway databases."""

    def __init__(self, admin_dsn: str) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        self._psycopg = psycopg
        self.admin_dsn = admin_dsn
        self.params = conninfo_to_dict(admin_dsn)
        self.admin = psycopg.connect(admin_dsn, autocommit=True)
        self.prefix = f"jointuse_test_{_run_id()}"
        self.created: list[str] = []
        self.counter = 0

    def url(self, dbname: str) -> str:
        user = self.params.get("user", "postgres")
        host = self.params.get("host", "127.0.0.1")
        port = self.params.get("port", 5432)
        password = self.params.get("password")
        auth = f"{user}:{password}" if password else str(user)
        return f"postgresql+psycopg://{auth}@{host}:{port}/{dbname}"

    def create(self, template: str | None = None) -> str:
        self.counter += 1
        name = f"{self.prefix}_{self.counter}" if template else f"{self.prefix}_tpl"
        clause = f" TEMPLATE {template}" if template else ""
        self.admin.execute(f'CREATE DATABASE "{name}"{clause}')  # type: ignore[arg-type]
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(reversed(self.created)):
            self.drop(name)
        self.admin.close()


@pytest.fixture(scope="session")
def _postgres() -> Iterator[_PostgresServer]:
    dsn = os.environ.get("JOINTUSE_TEST_POSTGRES") or _DEFAULT_PG_ADMIN
    try:
        server = _PostgresServer(dsn)
    except Exception as exc:  # psycopg.OperationalError, or psycopg missing
        reason = f"{PG_UNAVAILABLE} ({dsn!r}): {type(exc).__name__}: {str(exc).strip()[:200]}"
        if _in_ci():
            pytest.fail(f"{reason} — required when CI is set", pytrace=False)
        pytest.skip(reason)
    try:
        yield server
    finally:
        server.close()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        if engine.dialect.name == "sqlite":
            raw = engine.raw_connection()  # outside any transaction
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite_template") / "template.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_template(_postgres: _PostgresServer) -> str:
    name = _postgres.create()
    _migrate(_postgres.url(name))
    return name


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)],
)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test run: ``"sqlite"`` or ``"postgresql"``."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database for this test, migrated to head (see the module docstring)."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "jointuse.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    server: _PostgresServer = request.getfixturevalue("_postgres")
    pg_template: str = request.getfixturevalue("_postgres_template")
    name = server.create(template=pg_template)
    try:
        yield server.url(name)
    finally:
        server.drop(name)


@pytest.fixture
def empty_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """A fresh, empty (not migrated) database for this test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server: _PostgresServer = request.getfixturevalue("_postgres")
    name = server.create(template="template0")
    try:
        yield server.url(name)
    finally:
        server.drop(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on this test's migrated database."""
    eng = make_engine(database_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def uow(engine: Engine) -> Callable[..., UnitOfWork]:
    """``with uow() as u:`` — one transaction on this test's database (commit / roll back)."""

    def factory(*, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(engine, read_only=read_only)

    return factory

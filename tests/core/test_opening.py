"""Opening a database (:mod:`jointuse.core.opening`): absent, empty, behind or unknown databases
are refused with the fix, nothing is created or migrated unless asked — SQLite and PostgreSQL.
The same rule through every command of the CLI is ``tests/test_cli_database.py``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from jointuse.app import create_app
from jointuse.core.db import current_revisions, make_engine, upgrade
from jointuse.core.opening import (
    DatabaseNotReady,
    head_revisions,
    open_database,
    require_head,
)
from jointuse.core.settings import load_settings


@pytest.fixture
def absent_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that does not exist: a SQLite file in a folder that does not exist either, or
    a PostgreSQL database name the test server does not have."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'typo' / 'jointuse.db'}"
        return
    server = request.getfixturevalue("_postgres")
    name = f"{server.prefix}_absent"
    yield server.url(name)
    exists = server.admin.execute(
        "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
    ).fetchone()
    assert exists is None, "a PostgreSQL database was created"


@pytest.fixture
def empty_url(empty_database_url: str) -> str:
    """An existing, empty database (for SQLite, an empty file: a valid, empty database)."""
    if empty_database_url.startswith("sqlite:///"):
        Path(empty_database_url.removeprefix("sqlite:///")).touch()
    return empty_database_url


def test_an_absent_database_is_refused_and_not_created(
    absent_url: str, backend: str, tmp_path: Path
) -> None:
    with pytest.raises(DatabaseNotReady) as info:
        open_database(absent_url)
    assert info.value.state == "missing"
    assert info.value.fix is not None and "jointuse db upgrade --database-url" in info.value.fix
    assert info.value.fix in info.value.message
    if backend == "sqlite":
        assert not (tmp_path / "typo").exists()  # neither the file nor its folder
    else:
        assert info.value.fix.startswith("createdb -h 127.0.0.1 -p 5432 -U postgres ")


def test_create_makes_a_sqlite_file_but_never_a_postgresql_database(
    absent_url: str, backend: str, tmp_path: Path
) -> None:
    if backend == "postgresql":
        with pytest.raises(DatabaseNotReady, match="createdb"):
            open_database(absent_url, create=True)
        return
    engine = open_database(absent_url, create=True)
    try:
        assert (tmp_path / "typo" / "jointuse.db").exists()
        assert current_revisions(engine) == ()  # created, not migrated: the caller migrates
    finally:
        engine.dispose()


def test_an_empty_database_is_refused_with_the_command_to_run(empty_url: str) -> None:
    empty_database_url = empty_url
    with pytest.raises(DatabaseNotReady) as info:
        open_database(empty_database_url, upgrade_hint="jointuse db upgrade")
    assert info.value.state == "empty"
    assert info.value.message.endswith("run: jointuse db upgrade")
    assert info.value.status == 503
    engine = make_engine(empty_database_url)
    try:
        assert current_revisions(engine) == ()  # nothing migrated behind the refusal
    finally:
        engine.dispose()
    engine = open_database(empty_database_url, at_head=False)  # `db current` may look
    engine.dispose()


def test_a_database_behind_the_head_is_refused_until_upgraded(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        upgrade(engine, "0001_ledger")
        with pytest.raises(DatabaseNotReady) as info:
            require_head(engine)
        assert info.value.state == "behind"
        assert "0001_ledger" in info.value.message
        assert head_revisions()[0] in info.value.message
        upgrade(engine)
        assert require_head(engine).at_head
    finally:
        engine.dispose()
    open_database(empty_database_url).dispose()


def test_a_database_of_a_newer_version_is_refused(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    finally:
        engine.dispose()
    with pytest.raises(DatabaseNotReady) as info:
        open_database(database_url)
    assert info.value.state == "unknown_revision"
    assert "9999_from_the_future" in info.value.message and info.value.fix is None


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just text that is long enough to be read " * 20)
    with pytest.raises(DatabaseNotReady) as info:
        open_database(f"sqlite:///{path}")
    assert info.value.state == "not_a_database"


def test_an_unreachable_server_is_refused() -> None:
    with pytest.raises(DatabaseNotReady) as info:
        open_database("postgresql://postgres@127.0.0.1:1/jointuse?connect_timeout=2")
    assert info.value.state == "unreachable"


def test_the_migrated_database_opens(database_url: str) -> None:
    engine = open_database(database_url)
    try:
        assert current_revisions(engine) == head_revisions()
    finally:
        engine.dispose()


def test_the_server_refuses_to_start_on_an_unmigrated_database(
    empty_url: str, absent_url: str
) -> None:
    for url in (empty_url, absent_url):
        settings = replace(load_settings({}), database_url=url)
        with pytest.raises(DatabaseNotReady):
            create_app(settings, environ={}, run_sealer=False)


def test_the_maintenance_database_is_named_as_such(
    backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        pytest.skip("PostgreSQL's own databases")
    server = request.getfixturevalue("_postgres")
    with pytest.raises(DatabaseNotReady, match="PostgreSQL's maintenance database") as info:
        open_database(server.url("postgres"))
    assert info.value.state == "empty" and info.value.fix is None

"""Hot statements (core.db): run on the SQLite driver connection inside a transaction, with the
same results, conversions and errors as through SQLAlchemy; through SQLAlchemy when someone
listens to the engine's statements, outside a transaction, and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    exc,
    insert,
    select,
    update,
)

from jointuse.core.db import (
    HotQuery,
    HotStatement,
    UnitOfWork,
    hot_insert,
    hot_insert_statement,
    make_engine,
)

_md = MetaData()
probe = Table(
    "hot_probe",
    _md,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime()),
    Column("note", String(20), nullable=False),
)
NOTES = HotQuery(
    select(probe.c.id, probe.c.at, probe.c.note)
    .where(probe.c.note == bindparam("note"))
    .order_by(probe.c.id)
)
MOMENT = datetime(2024, 6, 1, 12, 30, 5, 123456)
INSERT_SQL = "INSERT INTO hot_probe (id, at, note) VALUES (:id, :at, :note)"


@pytest.fixture
def with_probe(engine: Engine) -> Iterator[Engine]:
    _md.create_all(engine)
    try:
        yield engine
    finally:
        _md.drop_all(engine)


def _seen(engine: Engine) -> tuple[list[str], Callable[..., None]]:
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return statements, record


def test_hot_query_returns_what_sqlalchemy_returns(with_probe: Engine) -> None:
    rows: list[dict[str, Any]] = [
        {"id": 1, "at": MOMENT, "note": "a"},
        {"id": 2, "at": None, "note": "a"},
    ]
    with UnitOfWork(with_probe) as u:
        conn = u.connection
        conn.execute(insert(probe), rows)
        plain = [tuple(r) for r in conn.execute(NOTES.statement, {"note": "a"})]
        hot = NOTES.rows(conn, {"note": "a"})
        assert hot == plain == [(1, MOMENT, "a"), (2, None, "a")]
        assert isinstance(hot[0][1], datetime)  # the column's result type applied
        assert NOTES.first(conn, {"note": "a"}) == (1, MOMENT, "a")
        assert NOTES.first(conn, {"note": "none such"}) is None
    # Outside a unit of work too (SQLAlchemy's autobegin), same rows.
    with with_probe.connect() as conn:
        assert NOTES.rows(conn, {"note": "a"}) == plain


def test_hot_statements_go_through_sqlalchemy_while_someone_listens(with_probe: Engine) -> None:
    statements, record = _seen(with_probe)
    try:
        with UnitOfWork(with_probe) as u:
            NOTES.rows(u.connection, {"note": "a"})
            if with_probe.dialect.name == "sqlite":
                hot_insert(u.connection, INSERT_SQL, {"id": 7, "at": None, "note": "b"})
    finally:
        event.remove(with_probe, "before_cursor_execute", record)
    assert any("FROM hot_probe" in s for s in statements)
    if with_probe.dialect.name == "sqlite":
        assert statements[0].startswith("BEGIN IMMEDIATE")  # the begin hook, seen as well
        assert any(s.startswith("INSERT INTO hot_probe") for s in statements)


def test_hot_insert_commits_and_rolls_back_with_its_transaction(with_probe: Engine) -> None:
    if with_probe.dialect.name != "sqlite":
        pytest.skip("hot_insert takes SQLite SQL")
    with UnitOfWork(with_probe) as u:
        assert hot_insert(u.connection, INSERT_SQL, {"id": 3, "at": None, "note": "c"}) == 3
    with pytest.raises(ZeroDivisionError), UnitOfWork(with_probe) as u:
        hot_insert(u.connection, INSERT_SQL, {"id": 4, "at": None, "note": "c"})
        _ = 1 / 0
    with pytest.raises(exc.IntegrityError) as info, UnitOfWork(with_probe) as u:
        hot_insert(u.connection, INSERT_SQL, {"id": 3, "at": None, "note": "again"})
    assert isinstance(info.value.orig, sqlite3.IntegrityError)
    assert "hot_probe" in str(info.value.statement)
    # Outside a transaction it goes through SQLAlchemy (autobegin): nothing lands uncommitted.
    with with_probe.connect() as conn:
        hot_insert(conn, INSERT_SQL, {"id": 5, "at": None, "note": "c"})
        conn.rollback()
    with UnitOfWork(with_probe, read_only=True) as u:
        assert [r[0] for r in NOTES.rows(u.connection, {"note": "c"})] == [3]


def test_sqlite_begin_on_the_driver_reports_a_busy_database_as_sqlalchemy_does(
    with_probe: Engine,
) -> None:
    if with_probe.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")
    url = with_probe.url.render_as_string(hide_password=False)
    other = make_engine(url)
    try:
        with other.connect() as holder, other.connect() as waiter:
            holder.begin()  # BEGIN IMMEDIATE: the write lock
            driver = waiter.connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            driver.execute("PRAGMA busy_timeout=0")
            with pytest.raises(exc.OperationalError, match="locked") as info:
                waiter.begin()
            assert isinstance(info.value.orig, sqlite3.OperationalError)
            holder.rollback()
    finally:
        other.dispose()


ADD = hot_insert_statement(probe, ("id", "at", "note"))
RENOTE = HotStatement(
    update(probe)
    .where(probe.c.note == bindparam("_was"))
    .values(note=bindparam("note", type_=probe.c.note.type))
)


def test_hot_statement_writes_what_sqlalchemy_writes_and_counts_rows(with_probe: Engine) -> None:
    with UnitOfWork(with_probe) as u:
        ADD.run_many(
            u.connection,
            [{"id": 1, "at": MOMENT, "note": "a"}, {"id": 2, "at": None, "note": "a"}],
        )
        ADD.run(u.connection, {"id": 3, "at": MOMENT, "note": "b"})
        assert RENOTE.run(u.connection, {"_was": "a", "note": "z"}) == 2
        assert RENOTE.run(u.connection, {"_was": "none such", "note": "y"}) == 0
        ADD.run_many(u.connection, [])  # nothing to write: no statement
    with with_probe.connect() as conn:
        # Read back through plain SQLAlchemy: the moment went in through DateTime's conversion.
        stored = [tuple(r) for r in conn.execute(select(probe).order_by(probe.c.id))]
    assert stored == [(1, MOMENT, "z"), (2, None, "z"), (3, MOMENT, "b")]
    with UnitOfWork(with_probe, read_only=True) as u:
        assert NOTES.mappings(u.connection, {"note": "z"}) == [
            {"id": 1, "at": MOMENT, "note": "z"},
            {"id": 2, "at": None, "note": "z"},
        ]


def test_hot_statement_rolls_back_with_its_transaction_and_raises_sqlalchemy_errors(
    with_probe: Engine,
) -> None:
    with pytest.raises(ZeroDivisionError), UnitOfWork(with_probe) as u:
        ADD.run(u.connection, {"id": 4, "at": None, "note": "c"})
        _ = 1 / 0
    with UnitOfWork(with_probe) as u:
        ADD.run(u.connection, {"id": 5, "at": None, "note": "c"})
    with pytest.raises(exc.IntegrityError), UnitOfWork(with_probe) as u:
        ADD.run_many(
            u.connection,
            [{"id": 6, "at": None, "note": "d"}, {"id": 5, "at": None, "note": "again"}],
        )
    with UnitOfWork(with_probe, read_only=True) as u:
        assert [r[0] for r in NOTES.rows(u.connection, {"note": "c"})] == [5]
        assert NOTES.rows(u.connection, {"note": "d"}) == []  # the failed batch left nothing


def test_hot_statement_goes_through_sqlalchemy_while_someone_listens(with_probe: Engine) -> None:
    statements, record = _seen(with_probe)
    try:
        with UnitOfWork(with_probe) as u:
            ADD.run(u.connection, {"id": 8, "at": None, "note": "e"})
            assert RENOTE.run(u.connection, {"_was": "e", "note": "f"}) == 1
    finally:
        event.remove(with_probe, "before_cursor_execute", record)
    assert any(s.startswith("INSERT INTO hot_probe") for s in statements)
    assert any(s.startswith("UPDATE hot_probe") for s in statements)

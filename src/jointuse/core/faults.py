"""Storage faults: a database that cannot serve now (read-only, full, unreachable), told apart from
bugs, and the connections such a fault leaves stale.

:func:`storage_fault`
    names the fault behind an exception (SQLAlchemy's or the driver's, through ``__cause__``), or
    None for anything else. The HTTP edge answers a fault **503** with ``Retry-After``
    (:func:`jointuse.core.http.unexpected_response`), never 500. Faults: SQLite's
    ``SQLITE_READONLY``, ``SQLITE_FULL``, ``SQLITE_IOERR``, ``SQLITE_CANTOPEN``, ``SQLITE_BUSY``
    / ``SQLITE_LOCKED`` (the busy timeout ran out), ``SQLITE_PERM``; PostgreSQL's SQLSTATE
    classes 08 (connection), 53 (insufficient resources: disk full, out of memory, too many
    connections), 57 (operator intervention: shutdown, cancel), 58 (system error: I/O), and
    ``25006`` (read-only transaction), ``42501`` (privilege revoked); a connection SQLAlchemy
    found invalidated; the pool's timeout.

Why a server used to need a restart after a read-only spell (the root cause)
    SQLite opens a database file it may not write **read-only**, silently, and the connection
    stays read-only for its whole life. Pooled (and LIFO: the connection just returned is the
    next one handed out), a connection opened during the spell kept failing every write long
    after the file was writable again (385 of 385). A PostgreSQL session opened while the
    database was ``default_transaction_read_only`` keeps that default likewise. So a fault that
    leaves the connection stale (:func:`stale_connection`: ``SQLITE_READONLY``,
    ``SQLITE_CANTOPEN``, ``SQLITE_IOERR``, ``SQLITE_PERM``; PostgreSQL ``25006``) marks every
    connection of the pool opened until now for replacement (:func:`retire_pool_connections`):
    each is closed and reopened when next checked out, after its current transaction ends
    normally. A connection that was *opened* read-only (SQLite: the file not writable then;
    PostgreSQL: ``default_transaction_read_only`` on) serves its checkout — reads work — and is
    replaced when returned, so none waits idle in the pool for the first write after the spell.
    :func:`jointuse.core.db.make_engine` wires it for statements run by SQLAlchemy (the
    ``handle_error`` event) and for the SQLite hot path (``BEGIN``, hot queries, inserts).
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

_SQLITE_FAULTS = {
    3: "permission denied",  # SQLITE_PERM
    5: "database busy",  # SQLITE_BUSY
    6: "database locked",  # SQLITE_LOCKED
    8: "read-only database",  # SQLITE_READONLY
    10: "disk I/O error",  # SQLITE_IOERR
    13: "database or disk is full",  # SQLITE_FULL
    14: "cannot open the database file",  # SQLITE_CANTOPEN
}
_SQLITE_STALE = frozenset({3, 8, 10, 14})
_PG_CLASSES = {
    "08": "database connection failed",
    "53": "database out of resources (disk, memory or connections)",
    "57": "database unavailable (shutdown or operator intervention)",
    "58": "database system error",
}
_PG_STATES = {"25006": "read-only database", "42501": "database privileges revoked"}
_PG_STALE = frozenset({"25006"})


def _causes(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        out.append(current)
        if isinstance(current, DBAPIError) and current.orig is not None:
            out.append(current.orig)
        current = current.__cause__ or current.__context__
    return out


def _sqlite_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, sqlite3.Error) and isinstance(code, int):
        return code & 0xFF  # the primary result code
    return None


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) and len(state) == 5 else None


def storage_fault(exc: BaseException | None) -> str | None:
    """What is wrong with the storage behind ``exc`` (module docstring), or None."""
    if exc is None:
        return None
    for cause in _causes(exc):
        if isinstance(cause, PoolTimeout):
            return "no database connection free"
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return "database connection lost"
        code = _sqlite_code(cause)
        if code is not None:
            return _SQLITE_FAULTS.get(code)
        state = _sqlstate(cause)
        if state is not None:
            return _PG_STATES.get(state) or _PG_CLASSES.get(state[:2])
        module = type(cause).__module__
        if module.startswith("psycopg") and type(cause).__name__ == "OperationalError":
            return "database unreachable"
    return None


def stale_connection(exc: BaseException) -> bool:
    """True when the connection that raised ``exc`` will keep failing (module docstring)."""
    for cause in _causes(exc):
        code = _sqlite_code(cause)
        if code is not None:
            return code in _SQLITE_STALE
        state = _sqlstate(cause)
        if state is not None:
            return state in _PG_STALE
    return False


def retire_pool_connections(engine: Engine, connection: Any, exc: BaseException) -> None:
    """Have the pool replace every connection opened until now when it is next checked out
    (the one in use included, once returned); none is closed under a running transaction.

    SQLAlchemy's own disconnect handling does the same (``Pool._invalidate``, with
    ``_checkin=False``: the connection in use is left to finish its transaction)."""
    engine.pool._invalidate(connection, exc, _checkin=False)


def on_driver_error(conn: Connection, exc: BaseException) -> None:
    """Called by the SQLite hot path with a driver error: retire stale connections."""
    if stale_connection(exc):
        retire_pool_connections(conn.engine, conn.connection, exc)


def _opened_read_only(dbapi_connection: Any, dialect: str, sqlite_path: str | None) -> bool:
    """Whether a connection just opened can never write (module docstring)."""
    if dialect == "sqlite":
        return sqlite_path is not None and not os.access(sqlite_path, os.W_OK)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SHOW default_transaction_read_only")
        row = cursor.fetchone()
    finally:
        cursor.close()
        dbapi_connection.rollback()
    return bool(row) and str(row[0]).lower() == "on"


def install_fault_handling(engine: Engine) -> None:
    """Retire stale connections: on errors of statements SQLAlchemy runs (``handle_error``),
    and — so that none opened during a read-only spell waits idle in the pool for the first
    write after it — connections opened read-only are never reused (``connect``/``checkin``)."""
    from sqlalchemy import event

    dialect = engine.dialect.name
    database = engine.url.database
    sqlite_path = (
        database
        if dialect == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")
        else None
    )

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        exc = context.original_exception
        if context.connection is not None and stale_connection(exc):
            try:
                dbapi = context.connection.connection
            except Exception:  # already invalidated or closed
                return
            retire_pool_connections(engine, dbapi, exc)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        try:
            record.info[_READ_ONLY] = _opened_read_only(dbapi_connection, dialect, sqlite_path)
        except Exception:  # cannot tell: reusable as usual
            record.info[_READ_ONLY] = False

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.get(_READ_ONLY):
            record.invalidate(soft=True)  # replaced at its next checkout


_READ_ONLY = "jointuse.opened_read_only"

"""Storage foundation: engine, shared metadata, unit of work, migrations.

Engines
    :func:`make_engine` builds an engine for SQLite (development, demo, tests) or PostgreSQL
    (psycopg 3). On SQLite every connection gets ``journal_mode=WAL``, ``foreign_keys=ON``,
    ``busy_timeout`` and ``recursive_triggers=ON`` (so that ``INSERT OR REPLACE`` cannot delete a
    row behind the back of a ``BEFORE DELETE`` trigger), a memory-mapped file (``mmap_size``)
    and a 64 MiB page cache. SQLite transactions begin with
    ``BEGIN IMMEDIATE`` (take the write lock up front: concurrent writers then queue on
    ``busy_timeout`` instead of failing with ``SQLITE_BUSY_SNAPSHOT``); read-only work asks for
    ``BEGIN DEFERRED`` with ``engine.execution_options(sqlite_begin="DEFERRED")`` or
    ``UnitOfWork(engine, read_only=True)``.

Connection reuse (SQLite)
    A SQLite connection keeps its page cache and its memory map only while no *other* connection
    has committed since its last transaction: at the start of its next one it finds the database
    changed, drops its whole page cache and unmaps the file (``munmap``; every page is then
    faulted in again). With a million supply points that costs a gate request more than its
    policy decision did, when the pool handed out its connections in turn (FIFO). The pool of a
    SQLite file is therefore LIFO (``pool_use_lifo``): writing units of work, which queue one
    after the other (below), get the connection the previous one just returned — the one whose
    cache is current — and readers too use the fewest connections.

Hot statements (SQLite)
    A statement run through SQLAlchemy costs some 30 µs of Python around the few µs SQLite
    needs for an indexed lookup; besides the row it reads a gate request runs three (token,
    applicant periods, ledger insert) and a ``BEGIN``.
    :class:`HotQuery` (a ``SELECT`` built once), :class:`HotStatement` (an ``INSERT``,
    ``UPDATE`` or ``DELETE`` built once), :func:`hot_insert` and :func:`hot_scalar` run
    their statement
    straight on the SQLite driver connection of a SQLAlchemy :class:`~sqlalchemy.Connection`:
    compiled once per dialect, with the statement's own bind and result type conversions, and
    driver errors raised as SQLAlchemy's (``DBAPIError.instance``; a fault that leaves the
    connection stale retires the pool's connections, :mod:`jointuse.core.faults`). They do so
    only inside the connection's transaction, and only while no one listens to the engine's
    cursor events or echoes its SQL (statement counts in tests, debugging): otherwise — and on
    PostgreSQL — the statement goes through SQLAlchemy as usual, with the same result.
    ``BEGIN`` (the ``begin`` hook below) is issued on the driver connection the same way.

WAL checkpoints (SQLite)
    SQLite copies the write-ahead log back into the database file (a *checkpoint*, with an
    ``fsync``) in the commit that takes the log past ``wal_autocheckpoint`` pages (1000): every
    150-odd gate requests one of them pays for it while holding the write lock (the mean commit
    of a ledger entry 90 µs instead of 40). A server therefore makes its engine with
    ``background_checkpoints=True`` — the log is then checkpointed only past
    :data:`SQLITE_BACKGROUND_AUTOCHECKPOINT_PAGES` (a safety net) — and runs a
    :class:`BackgroundCheckpointer`, which checkpoints ``PASSIVE`` (beside the writers, without
    their lock) every half second. Other engines (CLI, tests) keep SQLite's default.

Tables
    Every area declares its tables in its own ``tables.py`` on the one :data:`metadata` object of
    this module (it carries a naming convention, so constraint names are stable across backends).

Unit of work
    :class:`UnitOfWork` is one transaction per use case: ``with UnitOfWork(engine) as uow:`` …
    commits when the block ends normally, rolls back when it raises. Services receive the unit of
    work (or its ``session`` / ``connection``) and never commit themselves. It holds one
    connection; the ORM session is made only when asked for (see the class).

Migrations (Alembic, shipped inside the package: ``jointuse/migrations``)
    :func:`upgrade` runs them to the head(s) programmatically (``jointuse db upgrade``). The first
    revision, ``0001_ledger``, creates the access ledger and its append-only triggers. To add the
    tables of another area:

    1. declare them in ``src/jointuse/<area>/tables.py`` on :data:`metadata`;
    2. add ``src/jointuse/migrations/versions/<NNNN>_<area>.py`` (``jointuse db revision -m
       "<area> tables"`` writes the skeleton) with ``revision = "<NNNN>_<area>"`` and
       ``down_revision`` = the revision it builds on (``"0001_ledger"`` at least; the revision
       holding tables that your foreign keys point to, if any);
    3. write ``upgrade()`` with ``op.create_table`` … (and ``downgrade()``); keep backend-specific
       SQL behind ``if op.get_bind().dialect.name == "postgresql":``.

    The history is **one line** (a test fails on a second head): ``down_revision`` is the
    current head. Branches developed in parallel re-point their first revision to the head of
    ``main`` when they land. Migrations should not import the current ``tables.py`` (tables
    evolve, a migration must not): spell the columns out.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    MetaData,
    Select,
    bindparam,
    create_engine,
    event,
    insert,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import Text

from jointuse.core.errors import ValidationError
from jointuse.core.faults import install_fault_handling, on_driver_error
from jointuse.core.periodic import PeriodicWorker

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

log = logging.getLogger(__name__)

metadata = MetaData(naming_convention=NAMING_CONVENTION)
"""The one metadata every area's ``tables.py`` registers its tables on."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_MMAP_BYTES = 1 << 30
SQLITE_CACHE_KIB = 65_536
SQLITE_BACKGROUND_AUTOCHECKPOINT_PAGES = 20_000
"""With :class:`BackgroundCheckpointer` running: commits checkpoint only past this (80 MiB)."""
SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def normalise_url(url: str) -> str:
    """Map ``postgresql://`` / ``postgres://`` to the psycopg 3 driver; refuse other backends."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ValidationError(
            f"database URL {url!r} does not parse: {exc}",
            field="JOINTUSE_DATABASE_URL",
            valid="sqlite:///path/to/file.db or postgresql+psycopg://user@host:5432/dbname",
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "postgres":
        backend = "postgresql"
    if backend not in SUPPORTED_BACKENDS:
        raise ValidationError(
            f"database backend {backend!r} is not supported",
            field="JOINTUSE_DATABASE_URL",
            valid=list(SUPPORTED_BACKENDS),
        )
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_file(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(
    url: str, *, echo: bool = False, background_checkpoints: bool = False, **kwargs: Any
) -> Engine:
    """Create an engine for ``url`` (SQLite file or PostgreSQL), configured as described above.

    For a SQLite file the parent folder is created. ``background_checkpoints=True`` (SQLite):
    a :class:`BackgroundCheckpointer` will checkpoint the log, commits only past a safety net
    (see "WAL checkpoints" above); no effect on PostgreSQL.
    """
    url = normalise_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if "poolclass" not in kwargs:
                # Most recently returned connection first (see "Connection reuse" above).
                kwargs.setdefault("pool_use_lifo", True)
        connect_args = dict(kwargs.pop("connect_args", {}))
        # The pool hands a connection to one thread at a time; the check is not needed.
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(url, echo=echo, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine, background_checkpoints=background_checkpoints)
        install_fault_handling(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, echo=echo, **kwargs)
    install_fault_handling(engine)  # stale connections after a fault (jointuse.core.faults)
    return engine


def _configure_sqlite(engine: Engine, *, background_checkpoints: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy (the "begin" hook below) emit BEGIN; pysqlite's own handling would
        # begin lazily and break SAVEPOINTs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA recursive_triggers=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # Indexed lookups in a large registry (a million supply points) should not go through
            # a read() system call per page: map the file and keep a larger page cache.
            cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            if background_checkpoints:
                pages = SQLITE_BACKGROUND_AUTOCHECKPOINT_PAGES
                cursor.execute(f"PRAGMA wal_autocheckpoint={pages}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")).upper()
        if mode not in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE"):
            raise ValidationError(
                f"sqlite_begin={mode!r} is not a SQLite transaction mode",
                field="sqlite_begin",
                valid=["IMMEDIATE", "DEFERRED", "EXCLUSIVE"],
            )
        statement = f"BEGIN {mode}"
        if _instrumented(conn):
            conn.exec_driver_sql(statement)
            return
        try:
            _driver(conn).execute(statement)
        except sqlite3.Error as exc:
            on_driver_error(conn, exc)
            raise DBAPIError.instance(statement, (), exc, sqlite3.Error) from exc


def _instrumented(conn: Connection) -> bool:
    """Whether someone watches this connection's statements (cursor events, echo)."""
    dispatch = conn.dispatch
    return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute or conn.engine.echo)


def _driver(conn: Connection) -> sqlite3.Connection:
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


def _hot(conn: Connection) -> bool:
    """Whether a hot statement may run on the driver connection (module docstring)."""
    return conn.dialect.name == "sqlite" and conn.in_transaction() and not _instrumented(conn)


_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _SqliteForm:
    sql: str
    names: tuple[str, ...]
    binds: tuple[_Processor, ...]
    results: tuple[_Processor, ...]


class HotQuery:
    """A ``SELECT`` built once and run on the hot path (see "Hot statements" above).

    :meth:`rows` returns plain tuples, one per row, in the statement's column order, with the
    columns' result types applied (e.g. a stored moment comes back an aware ``datetime``) —
    the same values whichever way the statement ran."""

    __slots__ = ("_forms", "_keys", "statement")

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._forms: dict[tuple[type[Dialect], str], _SqliteForm] = {}
        self._keys: tuple[str, ...] | None = None

    def _form(self, dialect: Dialect) -> _SqliteForm:
        key = (type(dialect), dialect.paramstyle)
        form = self._forms.get(key)
        if form is None:
            compiled = self.statement.compile(dialect=dialect)
            names = tuple(compiled.positiontup or ())
            form = self._forms[key] = _SqliteForm(
                sql=str(compiled),
                names=names,
                binds=tuple(
                    compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)
                    for n in names
                ),
                results=tuple(
                    c.type.dialect_impl(dialect).result_processor(dialect, None)
                    for c in self.statement.selected_columns
                ),
            )
        return form

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        if not _hot(conn):
            return [tuple(row) for row in conn.execute(self.statement, params)]
        form = self._form(conn.dialect)
        args = tuple(
            params[n] if b is None else b(params[n])
            for n, b in zip(form.names, form.binds, strict=True)
        )
        try:
            cursor = _driver(conn).execute(form.sql, args)
            found: list[tuple[Any, ...]] = cursor.fetchall()
            cursor.close()
        except sqlite3.Error as exc:
            on_driver_error(conn, exc)
            raise DBAPIError.instance(form.sql, args, exc, sqlite3.Error) from exc
        if not any(form.results):
            return found
        return [
            tuple(v if p is None else p(v) for v, p in zip(row, form.results, strict=True))
            for row in found
        ]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        found = self.rows(conn, params)
        return found[0] if found else None

    def mappings(self, conn: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """:meth:`rows` as dicts keyed by the selected columns' keys."""
        keys = self._keys
        if keys is None:
            keys = self._keys = tuple(str(c.key) for c in self.statement.selected_columns)
        return [dict(zip(keys, row, strict=True)) for row in self.rows(conn, params)]


class HotStatement:
    """An ``INSERT``, ``UPDATE`` or ``DELETE`` with bound parameters, built once and run on the
    hot path (see "Hot statements" above) like :class:`HotQuery`: compiled once per dialect, each
    parameter through its column type's bind conversion; through SQLAlchemy where the hot path
    does not apply, with the same effect. Bound parameters should carry their column's type
    (:func:`hot_insert_statement` builds an ``INSERT`` that way)."""

    __slots__ = ("_forms", "statement")

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._forms: dict[tuple[type[Dialect], str], _SqliteForm] = {}

    def _form(self, dialect: Dialect) -> _SqliteForm:
        key = (type(dialect), dialect.paramstyle)
        form = self._forms.get(key)
        if form is None:
            compiled = self.statement.compile(dialect=dialect)
            names = tuple(compiled.positiontup or ())
            form = self._forms[key] = _SqliteForm(
                sql=str(compiled),
                names=names,
                binds=tuple(
                    compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)
                    for n in names
                ),
                results=(),
            )
        return form

    def _args(self, form: _SqliteForm, params: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            params[n] if b is None else b(params[n])
            for n, b in zip(form.names, form.binds, strict=True)
        )

    def run(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run the statement once; the number of rows an ``UPDATE`` or ``DELETE`` changed (for
        an ``INSERT``, whatever the driver reports)."""
        if not _hot(conn):
            return int(conn.execute(self.statement, dict(params)).rowcount)
        form = self._form(conn.dialect)
        args = self._args(form, params)
        try:
            cursor = _driver(conn).execute(form.sql, args)
            count = cursor.rowcount
            cursor.close()
        except sqlite3.Error as exc:
            on_driver_error(conn, exc)
            raise DBAPIError.instance(form.sql, args, exc, sqlite3.Error) from exc
        return int(count)

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row of parameters (one ``executemany``)."""
        if not rows:
            return
        if not _hot(conn):
            conn.execute(self.statement, [dict(r) for r in rows])
            return
        form = self._form(conn.dialect)
        args = [self._args(form, r) for r in rows]
        try:
            _driver(conn).executemany(form.sql, args).close()
        except sqlite3.Error as exc:
            on_driver_error(conn, exc)
            raise DBAPIError.instance(form.sql, args, exc, sqlite3.Error) from exc


def hot_insert_statement(table: Any, keys: Iterable[str]) -> HotStatement:
    """``INSERT INTO table (keys…) VALUES (:key…)`` as a :class:`HotStatement`, each parameter
    typed as its column."""
    return HotStatement(
        insert(table).values({k: bindparam(k, type_=table.c[k].type) for k in keys})
    )


def hot_insert(conn: Connection, sql: str, params: Mapping[str, Any]) -> int:
    """Run an ``INSERT`` given as SQLite SQL with named parameters (``:name``; values already
    in their stored form) on the hot path; return the new row's ``rowid``."""
    if not _hot(conn):
        return int(conn.exec_driver_sql(sql, dict(params)).lastrowid)
    try:
        cursor = _driver(conn).execute(sql, params)
        rowid = cursor.lastrowid
        cursor.close()
    except sqlite3.Error as exc:
        on_driver_error(conn, exc)
        raise DBAPIError.instance(sql, dict(params), exc, sqlite3.Error) from exc
    assert rowid is not None
    return rowid


def hot_scalar(conn: Connection, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    """The first column of the first row of a ``SELECT`` given as SQLite SQL (named
    parameters), on the hot path like :func:`hot_insert`; None when there is no row."""
    if not _hot(conn):
        return conn.exec_driver_sql(sql, dict(params or {})).scalar()
    try:
        cursor = _driver(conn).execute(sql, params or {})
        row = cursor.fetchone()
        cursor.close()
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, dict(params or {}), exc, sqlite3.Error) from exc
    return None if row is None else row[0]


def _checkpoint_on(raw: Any) -> tuple[int, int, int]:
    cursor = raw.cursor()
    try:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        row = cursor.fetchone()
    finally:
        cursor.close()
    assert row is not None
    busy, frames, done = row
    return int(busy), int(frames), int(done)


def checkpoint(engine: Engine) -> tuple[int, int, int]:
    """``PRAGMA wal_checkpoint(PASSIVE)`` on a connection outside any transaction: copies what
    it can of the log into the database without waiting for (or blocking) writers. Returns
    SQLite's ``(busy, log frames, frames checkpointed)``."""
    raw = engine.raw_connection()
    try:
        return _checkpoint_on(raw)
    finally:
        raw.close()


class BackgroundCheckpointer(PeriodicWorker):
    """Checkpoints a SQLite engine's log every ``interval`` seconds in a daemon thread (the
    server runs one for an engine made with ``background_checkpoints=True``; see "WAL
    checkpoints" above), on a connection of its own kept for its lifetime (not handed back to
    the pool between runs, where the requests' writers would pick up a connection whose cache
    is stale). A failing run is logged and counted; the next one tries again on a new
    connection. ``stop()`` checkpoints once more. ``last``: what the last checkpoint reported
    (busy, log frames, frames checkpointed)."""

    what = "SQLite checkpoint"
    thread_name = "sqlite-checkpoint"

    def __init__(self, engine: Engine, *, interval: float = 0.5) -> None:
        if engine.dialect.name != "sqlite":
            raise ValueError("only a SQLite engine has a write-ahead log to checkpoint")
        super().__init__(interval=interval)
        self.engine = engine
        self.last: tuple[int, int, int] | None = None
        self._raw: Any = None

    def run_once(self) -> None:
        if self._raw is None:
            self._raw = self.engine.raw_connection()
        self.last = _checkpoint_on(self._raw)

    def on_failure(self) -> None:
        self.close()

    def close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                raw.close()
            except Exception:
                log.exception("closing the checkpoint connection failed")


def read_only(engine: Engine) -> Engine:
    """The same engine, its SQLite transactions begun DEFERRED (no write lock until a write)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="DEFERRED")
    return engine


_WRITERS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


def writer_queue(engine: Engine) -> threading.RLock:
    """The in-process queue of one SQLite database's writing units of work (per pool)."""
    with _WRITERS_LOCK:
        lock = _WRITERS.get(engine.pool)
        if lock is None:
            lock = _WRITERS[engine.pool] = threading.RLock()
        return lock


@contextmanager
def writer_turn(engine: Engine) -> Iterator[None]:
    """Wait for this process's turn to write (SQLite: the queue of :func:`writer_queue`, as a
    writing :class:`UnitOfWork` does) — for writers that open their own transaction, such as
    the ledger's sealer, so that queued requests are woken when it ends instead of sleeping in
    SQLite's busy handler. No-op on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        yield
        return
    lock = writer_queue(engine)
    queued = lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        yield
    finally:
        if queued:
            lock.release()


class UnitOfWork:
    """One transaction per use case: commit on success, roll back on exception.

    ::

        with UnitOfWork(engine) as uow:
            uow.session.execute(insert(...))      # or uow.connection.execute(...)
            ledger.append(uow.session, entry)     # same transaction

    ``read_only=True`` begins SQLite transactions DEFERRED (several readers at once) and
    rolls back at the end instead of committing.

    Connection first, session on demand
        The unit of work checks out one connection and begins its transaction when it is
        entered; :attr:`connection` is that connection (SQLAlchemy Core). The ORM
        :attr:`session` is made only when asked for, bound to the same connection and in
        control of its transaction (``join_transaction_mode="control_fully"``):
        ``session.commit()`` / ``session.rollback()`` end the unit of work's transaction and the
        next statement begins another on the same connection (the gate does that to record a
        denial). The hot path — a gate request: authentication, relations, read, ledger append —
        uses the connection alone and never pays for a session's transaction bookkeeping.
        :attr:`info` is a scratch dictionary for services working inside one unit of work.

    SQLite admits one writer at a time, and a ``BEGIN IMMEDIATE`` that finds the write lock taken
    waits in SQLite's busy handler, which *sleeps* and polls (1, 2, 5, 10 … 100 ms): a unit of
    work queued behind another often sleeps well past the moment the lock was freed. So the
    writing units of work of one process queue on an in-process lock first (per engine pool,
    re-entrant) and are woken as soon as the one before them ends; SQLite's own locking still
    guards against other processes and other connections (after ``busy_timeout`` of waiting
    here, the unit of work goes on to SQLite's busy handling as before).
    """

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only
        self.info: dict[str, Any] = {}
        self._session: Session | None = None
        self._queued: threading.RLock | None = None
        self._conn: Connection | None = None

    @property
    def session(self) -> Session:
        """An ORM session on this unit of work's connection, made on first use (see above)."""
        session = self._session
        if session is None:
            conn = self._connection()
            session = Session(
                bind=conn, expire_on_commit=False, join_transaction_mode="control_fully"
            )
            session.connection()  # take over the transaction under way now
            self._session = session
        return session

    @property
    def connection(self) -> Connection:
        """The connection of this unit of work's transaction (for SQLAlchemy Core statements).

        The same connection for the whole unit of work; once the session has ended a
        transaction (commit or rollback inside the unit of work), asking for it begins the
        session's next one."""
        if self._session is not None:
            return self._session.connection()
        return self._connection()

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is None:
            raise RuntimeError("UnitOfWork used outside its `with` block")
        return conn

    def __enter__(self) -> UnitOfWork:
        if not self.read_only and self.engine.dialect.name == "sqlite":
            lock = writer_queue(self.engine)
            if lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
                self._queued = lock
        conn: Connection | None = None
        try:
            bind = read_only(self.engine) if self.read_only else self.engine
            conn = bind.connect()
            conn.begin()
        except BaseException:
            if conn is not None:
                conn.close()
            self._dequeue()
            raise
        self._conn = conn
        return self

    def _dequeue(self) -> None:
        if self._queued is not None:
            self._queued.release()
            self._queued = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._connection()
        session = self._session
        commit = exc_type is None and not self.read_only
        try:
            try:
                if session is not None:
                    if commit:
                        session.commit()
                    else:
                        session.rollback()
                    session.close()
            finally:
                # Work done on the connection outside the session's transaction (or all of it,
                # when no session was made).
                if conn.in_transaction():
                    if commit:
                        conn.commit()
                    else:
                        conn.rollback()
        finally:
            conn.close()
            self._session = self._conn = None
            self._dequeue()


# --- JSON fields for generated columns ----------------------------------------------------------


class JsonField(ColumnElement[str]):
    """``column ->> key`` of a JSON text column, for generated (computed) columns.

    Renders ``json_extract(col, '$.key')`` on SQLite and ``((col)::jsonb ->> 'key')`` on
    PostgreSQL (immutable, as a generated column needs). ``as_json=True`` yields the JSON text of
    a nested value (arrays, objects) instead of the scalar.
    """

    inherit_cache = True
    type = Text()

    def __init__(self, column: str, key: str, *, as_json: bool = False) -> None:
        if not (column.isidentifier() and key.isidentifier()):
            raise ValueError(f"JsonField({column!r}, {key!r}): identifiers only")
        self.column = column
        self.key = key
        self.as_json = as_json


@compiles(JsonField, "sqlite")
def _json_field_sqlite(element: JsonField, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_extract({element.column}, '$.{element.key}')"


@compiles(JsonField, "postgresql")
def _json_field_pg(element: JsonField, compiler: SQLCompiler, **kw: Any) -> str:
    if element.as_json:
        return f"((({element.column})::jsonb -> '{element.key}')::text)"
    return f"(({element.column})::jsonb ->> '{element.key}')"


# --- migrations ---------------------------------------------------------------------------------


def alembic_config(engine: Engine | None = None, connection: Connection | None = None) -> Any:
    """An Alembic ``Config`` for the migrations shipped in ``jointuse/migrations``.

    Configured in code (no ``alembic.ini``), so it works from an installed package.
    """
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "jointuse:migrations")
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if engine is not None:
        cfg.set_main_option(
            "sqlalchemy.url",
            engine.url.render_as_string(hide_password=False).replace("%", "%%"),
        )
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Run the migrations to ``revision`` (default: every head) in one transaction."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), revision)


def current_revisions(engine: Engine) -> tuple[str, ...]:
    """The revisions the database is at (empty before the first upgrade)."""
    from alembic.runtime.migration import MigrationContext

    with read_only(engine).connect() as conn:
        return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


@contextmanager
def connect_read_only(engine: Engine) -> Iterator[Connection]:
    """A connection in a read-only transaction (rolled back at the end)."""
    with read_only(engine).connect() as conn, conn.begin() as tx:
        try:
            yield conn
        finally:
            tx.rollback()


def database_url_for_display(url: str) -> str:
    """The URL with its password hidden (for logs and CLI output)."""
    return make_url(url).render_as_string(hide_password=True)

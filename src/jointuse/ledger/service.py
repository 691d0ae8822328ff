"""Appending, sealing and verifying the access ledger (アクセス記録).

Storage: three insert-only tables (migration ``0001_ledger``): ``access_ledger`` (the entries),
``access_ledger_seal`` (the hash chain: one row per sealed entry) and ``ledger_checkpoint``.

Appending
    :func:`append` inserts the entry on the caller's session or connection, inside the transaction
    of the change it records: a rolled-back transaction leaves no entry, a committed one always
    has one. One ``INSERT`` with no lock on the chain head, so requests do not queue behind each
    other; the entry is *unsealed* until the sealer writes its seal row.

Sealing (transparency-log style: a short sealing delay)
    :func:`seal` runs in its own short transaction: it takes the sealer lock (PostgreSQL:
    ``pg_advisory_xact_lock``; SQLite: the write lock of ``BEGIN IMMEDIATE``), reads the head,
    takes up to ``max_batch`` *committed* unsealed entries in ``seq`` order and inserts their seal
    rows (next chain positions, ``prev_hash``, ``hash``) in one statement. Chain positions are
    assigned at seal time, so the chain is contiguous by construction even though PostgreSQL
    sequence values can commit out of order: an entry whose transaction commits late (lower
    ``seq``, not yet visible) is simply sealed by a later run, at a later position.

    Finding the unsealed entries is an anti-join (entries without a seal). So that it does not
    scan the whole ledger each time, each engine remembers a *floor*: a ``seq`` at or below which
    every entry is sealed or can never appear. It only advances past ``seq`` values whose writers
    are provably done: on SQLite the sealer holds the only write lock; on PostgreSQL a run notes
    the highest ``seq`` it sees and the transactions then holding a write lock on
    ``access_ledger`` (``pg_locks``; an ``INSERT`` takes that lock before drawing its ``seq``),
    and a later run moves the floor up to that ``seq`` once all of them have ended. A new engine
    starts from 0 (one full anti-join). The server runs a :class:`BackgroundSealer`;
    ``jointuse ledger seal`` / ``verify`` and the tests call :func:`seal_all` synchronously.

Verifying
    :func:`verify` streams, in chain order, only what it must check: the stored hash, the stored
    ``prev_hash`` and the hash message, concatenated by the database (``chain_pos \\n seq \\n
    prev_hash \\n entry`` as bytes; NULL when the entry is gone), through the driver's own cursor
    (server-side on PostgreSQL), read ahead by a second thread so the database works while Python
    hashes. The loop compares ``prev_hash`` with the previous hash and the recomputed hash with
    the stored one; a chunk must end at the chain position it should (positions are the key, so
    ascending: no gap). A chunk that fails is read again in full and replayed through
    :class:`~jointuse.ledger.chain.ChainVerifier` to report the first break precisely.
    Then the signed checkpoints are checked against the verified chain.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import queue
import threading
import weakref
from collections.abc import Collection, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session

from jointuse.core.db import read_only
from jointuse.ledger.chain import (
    ChainBreak,
    ChainVerifier,
    LedgerEntry,
    Row,
    entry_columns,
    entry_hash,
    parse_entry,
)
from jointuse.ledger.checkpoint import (
    CheckpointProblem,
    check_checkpoints,
    load_checkpoints,
    sealed_head,
)
from jointuse.ledger.tables import JSON_FIELDS, TEXT_FIELDS, access_ledger, access_ledger_seal

log = logging.getLogger(__name__)

SEALER_LOCK_KEY = 0x6A75_6C65_6467_6572  # "juledger": the PostgreSQL advisory lock of the sealer
DEFAULT_SEAL_BATCH = 5000
DEFAULT_VERIFY_CHUNK = 10_000

_COLUMNS = ("entry", *TEXT_FIELDS, *JSON_FIELDS)


def _connection(target: Session | Connection) -> Connection:
    return target.connection() if isinstance(target, Session) else target


@functools.cache
def _insert_sql(dialect: str) -> str:
    if dialect == "postgresql":
        values = ", ".join(f"%({c})s" for c in _COLUMNS)
        returning = " RETURNING seq"
    else:
        values = ", ".join(f":{c}" for c in _COLUMNS)
        returning = ""  # the cursor's lastrowid
    return f"INSERT INTO access_ledger ({', '.join(_COLUMNS)}) VALUES ({values}){returning}"


def append(target: Session | Connection, entry: LedgerEntry, *, now: datetime | None = None) -> int:
    """Record ``entry`` in the caller's transaction (unsealed); return its ``seq``."""
    stamped = entry.stamped(now or datetime.now(UTC))
    conn = _connection(target)
    dialect = conn.dialect.name
    result = conn.exec_driver_sql(_insert_sql(dialect), entry_columns(stamped))
    if dialect == "postgresql":
        return int(result.scalar_one())
    return int(result.lastrowid)


@dataclass(frozen=True, slots=True)
class SealResult:
    sealed: int
    head_pos: int
    head_hash: str


@dataclass(slots=True)
class _Floor:
    """What a sealer knows about one database: every entry with ``seq <= floor`` is sealed."""

    floor: int = 0
    pending: list[tuple[int, frozenset[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_FLOORS: weakref.WeakKeyDictionary[Any, _Floor] = weakref.WeakKeyDictionary()
_FLOORS_LOCK = threading.Lock()
_MAX_PENDING = 256

_PG_WRITERS_SQL = (
    "SELECT virtualtransaction FROM pg_locks WHERE locktype = 'relation'"
    " AND relation = CAST('access_ledger' AS regclass) AND mode = 'RowExclusiveLock'"
    " AND pid IS DISTINCT FROM pg_backend_pid()"
)
_UNSEALED_SQL = (
    "SELECT l.seq, l.entry FROM access_ledger AS l WHERE l.seq > :floor AND NOT EXISTS"
    " (SELECT 1 FROM access_ledger_seal AS s WHERE s.seq = l.seq) ORDER BY l.seq LIMIT :n"
)
_PG_SEAL_SQL = (
    "INSERT INTO access_ledger_seal (chain_pos, seq, prev_hash, hash)"
    " SELECT * FROM unnest(CAST(:positions AS bigint[]), CAST(:seqs AS bigint[]),"
    " CAST(:prevs AS text[]), CAST(:digests AS text[]))"
)
_SQLITE_SEAL_SQL = (
    "INSERT INTO access_ledger_seal (chain_pos, seq, prev_hash, hash) VALUES (?, ?, ?, ?)"
)


def _floor_of(engine: Engine) -> _Floor:
    with _FLOORS_LOCK:
        state = _FLOORS.get(engine.pool)
        if state is None:
            state = _FLOORS[engine.pool] = _Floor()
        return state


def seal(engine: Engine, max_batch: int = DEFAULT_SEAL_BATCH) -> SealResult:
    """Seal up to ``max_batch`` committed unsealed entries, in ``seq`` order, in one transaction."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    state = _floor_of(engine)
    with state.lock, engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE (see core.db)
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEALER_LOCK_KEY})
        # Highest seq drawn so far (as far as visible), then who may still be writing below it.
        top = int(conn.execute(select(func.max(access_ledger.c.seq))).scalar() or 0)
        writers = (
            frozenset(str(v) for (v,) in conn.execute(text(_PG_WRITERS_SQL)))
            if postgres
            else frozenset()
        )
        pending = [*state.pending, (top, writers)]
        done = [t for t, w in pending if not (w & writers)]  # their writers have all ended
        settled = max(done, default=state.floor)
        pending = [(t, w) for t, w in pending if t > settled and w][-_MAX_PENDING:]
        pos, prev = sealed_head(conn)
        rows = conn.execute(text(_UNSEALED_SQL), {"floor": state.floor, "n": max_batch}).all()
        positions, seqs, prevs, digests = [], [], [], []
        for seq, entry in rows:
            pos += 1
            digest = entry_hash(pos, seq, prev, entry)
            positions.append(pos)
            seqs.append(seq)
            prevs.append(prev)
            digests.append(digest)
            prev = digest
        if rows and postgres:
            conn.execute(
                text(_PG_SEAL_SQL),
                {"positions": positions, "seqs": seqs, "prevs": prevs, "digests": digests},
            )
        elif rows:
            conn.exec_driver_sql(
                _SQLITE_SEAL_SQL, list(zip(positions, seqs, prevs, digests, strict=True))
            )
    # Committed: every visible entry up to `settled` is sealed now (up to the last one sealed,
    # if the batch was full and more may wait).
    new_floor = settled if len(rows) < max_batch else min(settled, seqs[-1])
    state.floor = max(state.floor, new_floor)
    state.pending = pending
    return SealResult(len(rows), pos, prev)


def seal_all(engine: Engine, max_batch: int = DEFAULT_SEAL_BATCH) -> SealResult:
    """Seal until no committed entry is left unsealed; return the total and the new head."""
    total = 0
    while True:
        result = seal(engine, max_batch)
        total += result.sealed
        if result.sealed < max_batch:
            return SealResult(total, result.head_pos, result.head_hash)


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """A stored entry with its place in the chain (``chain_pos`` etc. None while unsealed)."""

    seq: int
    entry: LedgerEntry
    chain_pos: int | None
    prev_hash: str | None
    hash: str | None


def find_entries(
    target: Session | Connection,
    *,
    customer_id: str | None = None,
    supply_point_id: str | None = None,
    party: str | None = None,
    limit: int = 1000,
) -> list[LedgerRecord]:
    """Entries about a customer / supply point / by a party, newest first (for disclosure, 開示)."""
    t, s = access_ledger.c, access_ledger_seal.c
    query = select(t.seq, t.entry, s.chain_pos, s.prev_hash, s.hash).select_from(
        access_ledger.outerjoin(access_ledger_seal, s.seq == t.seq)
    )
    if customer_id is not None:
        query = query.where(t.customer_id == customer_id)
    if supply_point_id is not None:
        query = query.where(t.supply_point_id == supply_point_id)
    if party is not None:
        query = query.where(t.party == party)
    rows = _connection(target).execute(query.order_by(t.seq.desc()).limit(limit)).all()
    return [LedgerRecord(r[0], parse_entry(r[1]), r[2], r[3], r[4]) for r in rows]


# --- verify -------------------------------------------------------------------------------------

_NL = {"postgresql": "E'\\n'", "sqlite": "char(10)"}


@functools.cache
def _stream_sql(dialect: str) -> str:
    """``(hash, prev_hash, message)`` per seal in chain order; message NULL if the entry is gone."""
    nl = _NL[dialect]
    message = f"s.chain_pos || {nl} || s.seq || {nl} || s.prev_hash || {nl} || l.entry"
    message = (
        f"convert_to({message}, 'UTF8')" if dialect == "postgresql" else f"CAST({message} AS BLOB)"
    )
    return (
        f"SELECT s.hash, s.prev_hash, {message} FROM access_ledger_seal AS s"
        " LEFT JOIN access_ledger AS l ON l.seq = s.seq ORDER BY s.chain_pos"
    )


_ROWS_SQL = (
    "SELECT s.chain_pos, s.seq, s.prev_hash, s.hash, l.entry FROM access_ledger_seal AS s"
    " LEFT JOIN access_ledger AS l ON l.seq = s.seq WHERE s.chain_pos > :after"
    " ORDER BY s.chain_pos LIMIT :n"
)


_Chunk = list[tuple[str, str, bytes | None]]


def _stream(conn: Connection, chunk: int) -> Generator[_Chunk]:
    """``(hash, prev_hash, message)`` rows, ``chunk`` at a time, through the driver's cursor."""
    dbapi: Any = conn.connection.driver_connection
    dialect = conn.dialect.name
    sql = _stream_sql(dialect)
    if dialect == "postgresql":
        # server-side, binary (bytea arrives as raw bytes, not hex text)
        cursor = dbapi.cursor(name="jointuse_ledger_verify", binary=True)
        cursor.itersize = chunk
    else:
        cursor = dbapi.cursor()
        cursor.arraysize = chunk
    cursor.execute(sql)
    try:
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                return
            yield rows
    finally:
        cursor.close()


_END = object()


def _prefetched(chunks: Generator[_Chunk]) -> Generator[_Chunk]:
    """``chunks``, read ahead by a thread: the database (and the driver, which releases the GIL
    while it waits or steps) works on the next chunk while this thread hashes the current one.
    When the consumer stops early, the reader ends (and closes its cursor) before this returns.
    """
    ahead: queue.Queue[object] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def read() -> None:
        try:
            for rows in chunks:
                while not stop.is_set():
                    try:
                        ahead.put(rows, timeout=0.05)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # handed over to the consumer
            ahead.put(exc)
        finally:
            chunks.close()
            ahead.put(_END)

    reader = threading.Thread(target=read, name="ledger-verify-read", daemon=True)
    reader.start()
    try:
        while True:
            item = ahead.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while reader.is_alive():
            with contextlib.suppress(queue.Empty):
                ahead.get(timeout=0.05)
        reader.join()


def _chunk_verifies(rows: _Chunk, verified: int, head: str) -> bool:
    """Each row links to the one before (``head`` first), hashes to its stored hash, and the
    chunk holds exactly the chain positions after ``verified`` (they ascend: it is the key)."""
    sha256 = hashlib.sha256
    last = head
    try:
        for stored, prev_hash, message in rows:
            if prev_hash != last or sha256(message).hexdigest() != stored:  # type: ignore[arg-type]
                return False
            last = stored
    except TypeError:  # NULL message: the entry is gone
        return False
    final = rows[-1][2]
    assert final is not None
    return int(final[: final.index(b"\n")]) == verified + len(rows)


def _replay(conn: Connection, verifier: ChainVerifier, n: int) -> None:
    """Feed the ``n`` rows after the verified head to ``verifier`` (the slow, exact path)."""
    rows: list[Row] = [
        (int(r[0]), int(r[1]), r[2], r[3], r[4])
        for r in conn.execute(text(_ROWS_SQL), {"after": verifier.verified, "n": n})
    ]
    verifier.feed(rows)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What :func:`verify` found. ``ok`` is False on a chain break or any checkpoint problem."""

    verified: int
    head_pos: int
    head_hash: str
    unsealed: int
    broken: ChainBreak | None
    checkpoints_checked: int
    checkpoint_problems: tuple[CheckpointProblem, ...]
    keys_trusted: bool

    @property
    def ok(self) -> bool:
        return self.broken is None and not self.checkpoint_problems


def verify(
    engine: Engine,
    *,
    trusted_keys: Collection[str] | None = None,
    chunk: int = DEFAULT_VERIFY_CHUNK,
) -> VerifyResult:
    """Recompute the chain and check every checkpoint (see the module docstring).

    ``trusted_keys``: public keys (64 hex) whose checkpoints are trusted; a checkpoint signed by
    another key is a problem. ``None`` checks each signature against the key stored with it
    (detects edits of a checkpoint, not a rewrite re-signed with a new key).
    """
    trusted = None if trusted_keys is None else {k.lower() for k in trusted_keys}
    ro = read_only(engine)
    if engine.dialect.name == "postgresql":
        ro = ro.execution_options(isolation_level="REPEATABLE READ")
    with ro.connect() as conn, conn.begin() as tx:  # one snapshot for every query below
        checkpoints = load_checkpoints(conn)
        verifier = ChainVerifier()
        chunks = _prefetched(_stream(conn, chunk))
        for rows in chunks:
            if _chunk_verifies(rows, verifier.verified, verifier.head_hash):
                verifier.verified += len(rows)
                verifier.head_hash = rows[-1][0]
                continue
            chunks.close()  # the reader is done with `conn`
            _replay(conn, verifier, len(rows))  # finds the first break, and what is wrong
            if verifier.broken is not None:
                break
        verified = verifier.verified
        watch = sorted({cp.chain_pos for cp in checkpoints if 0 < cp.chain_pos <= verified})
        seen = {
            int(p): str(h)
            for p, h in conn.execute(
                select(access_ledger_seal.c.chain_pos, access_ledger_seal.c.hash).where(
                    access_ledger_seal.c.chain_pos.in_(watch)
                )
            )
        }
        entries = int(conn.execute(select(func.count()).select_from(access_ledger)).scalar_one())
        if verifier.broken is None:  # every seal verified, each with its own entry
            unsealed = entries - verified
        else:
            unsealed = int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM access_ledger AS l WHERE NOT EXISTS"
                        " (SELECT 1 FROM access_ledger_seal AS s WHERE s.seq = l.seq)"
                    )
                ).scalar_one()
            )
        head_pos, head_hash = sealed_head(conn)
        tx.rollback()
    problems = check_checkpoints(
        checkpoints,
        seen=seen,
        verified=verified,
        chain_broken=verifier.broken is not None,
        trusted_keys=trusted,
    )
    return VerifyResult(
        verified=verified,
        head_pos=head_pos,
        head_hash=head_hash,
        unsealed=unsealed,
        broken=verifier.broken,
        checkpoints_checked=len(checkpoints),
        checkpoint_problems=tuple(problems),
        keys_trusted=trusted is not None,
    )


# --- background sealer --------------------------------------------------------------------------


class BackgroundSealer:
    """Seals the ledger every ``interval`` seconds in a daemon thread (the server starts one).

    A failing run (database briefly unavailable) is logged at ERROR with its traceback, counted in
    ``failures`` and kept in ``last_error``; the next run tries again. ``stop()`` seals once more.
    """

    def __init__(
        self, engine: Engine, *, interval: float = 0.5, max_batch: int = DEFAULT_SEAL_BATCH
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.max_batch = max_batch
        self.failures = 0
        self.last_error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("BackgroundSealer already started")
        self._thread = threading.Thread(target=self._run, name="ledger-sealer", daemon=True)
        self._thread.start()

    def _run_once(self) -> None:
        try:
            seal_all(self.engine, self.max_batch)
        except Exception as exc:
            self.failures += 1
            self.last_error = exc
            log.exception("ledger sealing failed (attempt will be repeated)")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._run_once()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._run_once()

    def __enter__(self) -> BackgroundSealer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

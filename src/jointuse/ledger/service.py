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
    ``pg_advisory_xact_lock``; SQLite: the write lock of ``BEGIN IMMEDIATE``, after its turn in
    the process's queue of writers, :func:`~jointuse.core.db.writer_turn`), reads the head,
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
    :func:`verify` (in :mod:`jointuse.ledger.verifying`, re-exported here) recomputes every hash
    in Python, in parallel segments, and checks every link and the signed checkpoints.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session

from jointuse.core.db import hot_insert, writer_turn
from jointuse.core.periodic import PeriodicWorker
from jointuse.ledger.chain import LedgerEntry, entry_columns, entry_hash, parse_entry
from jointuse.ledger.checkpoint import sealed_head
from jointuse.ledger.tables import JSON_FIELDS, TEXT_FIELDS, access_ledger, access_ledger_seal
from jointuse.ledger.verifying import DEFAULT_VERIFY_CHUNK as DEFAULT_VERIFY_CHUNK
from jointuse.ledger.verifying import VerifyResult as VerifyResult
from jointuse.ledger.verifying import verify as verify

log = logging.getLogger(__name__)

SEALER_LOCK_KEY = 0x6A75_6C65_6467_6572  # "juledger": the PostgreSQL advisory lock of the sealer
DEFAULT_SEAL_BATCH = 5000

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
    if dialect == "postgresql":
        return int(conn.exec_driver_sql(_insert_sql(dialect), entry_columns(stamped)).scalar_one())
    # SQLite: on the driver connection when it may (the gate's hot path; see core.db).
    return hot_insert(conn, _insert_sql(dialect), entry_columns(stamped))


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
    # SQLite: BEGIN IMMEDIATE (see core.db), in this process's queue of writers.
    with state.lock, writer_turn(engine), engine.begin() as conn:
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


# --- background sealer --------------------------------------------------------------------------


class BackgroundSealer(PeriodicWorker):
    """Seals the ledger every ``interval`` seconds in a daemon thread (the server starts one).

    A failing run (database briefly unavailable) is logged at ERROR with its traceback, counted in
    ``failures`` and kept in ``last_error``; the next run tries again. ``stop()`` seals once more.
    """

    what = "ledger sealing"
    thread_name = "ledger-sealer"

    def __init__(
        self, engine: Engine, *, interval: float = 0.5, max_batch: int = DEFAULT_SEAL_BATCH
    ) -> None:
        super().__init__(interval=interval)
        self.engine = engine
        self.max_batch = max_batch

    def run_once(self) -> None:
        seal_all(self.engine, self.max_batch)

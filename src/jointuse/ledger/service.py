"""Appending, sealing and verifying the access ledger (アクセス記録).

Appending
    :func:`append` inserts the entry *unsealed* (``chain_pos``, ``prev_hash``, ``hash`` NULL) on
    the caller's session or connection, inside the transaction of the change it records: a
    rolled-back transaction leaves no entry, a committed one always has one. The insert takes no
    lock on the chain head, so requests do not queue behind each other for longer than the insert.

Sealing (transparency-log style: a short sealing delay)
    :func:`seal` runs in its own short transaction: it takes the sealer lock (PostgreSQL:
    ``pg_advisory_xact_lock``; SQLite: the write lock of ``BEGIN IMMEDIATE``), reads the head,
    takes up to ``max_batch`` *committed* unsealed entries in ``seq`` order and gives them the next
    chain positions, ``prev_hash`` and ``hash``. Chain positions are assigned at seal time, so the
    chain is contiguous by construction even though PostgreSQL sequence values can commit out of
    order: an entry whose transaction commits late (lower ``seq``, not yet visible) is simply
    sealed by a later run, at a later position. The server runs a :class:`BackgroundSealer`;
    ``jointuse ledger seal`` / ``verify`` and the tests call :func:`seal_all` synchronously.

Verifying
    :func:`verify` streams the sealed entries in chain order, in chunks (a server-side cursor on
    PostgreSQL), recomputes every hash, and then checks the signed checkpoints against it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from jointuse.core.db import read_only
from jointuse.ledger.chain import (
    ChainBreak,
    ChainVerifier,
    LedgerEntry,
    Row,
    canonical_entry,
    entry_hash,
    parse_entry,
)
from jointuse.ledger.checkpoint import (
    CheckpointProblem,
    check_checkpoints,
    load_checkpoints,
    sealed_head,
)
from jointuse.ledger.tables import access_ledger

log = logging.getLogger(__name__)

SEALER_LOCK_KEY = 0x6A75_6C65_6467_6572  # "juledger": the PostgreSQL advisory lock of the sealer
DEFAULT_SEAL_BATCH = 5000
DEFAULT_VERIFY_CHUNK = 10_000


def _connection(target: Session | Connection) -> Connection:
    return target.connection() if isinstance(target, Session) else target


def append(target: Session | Connection, entry: LedgerEntry, *, now: datetime | None = None) -> int:
    """Record ``entry`` in the caller's transaction (unsealed); return its ``seq``."""
    stamped = entry.stamped(now or datetime.now(UTC))
    result = _connection(target).execute(
        insert(access_ledger).values(entry=canonical_entry(stamped))
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


@dataclass(frozen=True, slots=True)
class SealResult:
    sealed: int
    head_pos: int
    head_hash: str


def seal(engine: Engine, max_batch: int = DEFAULT_SEAL_BATCH) -> SealResult:
    """Seal up to ``max_batch`` committed unsealed entries, in ``seq`` order, in one transaction."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    t = access_ledger.c
    with engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE (see core.db)
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEALER_LOCK_KEY})
        pos, prev = sealed_head(conn)
        rows = conn.execute(
            select(t.seq, t.entry).where(t.chain_pos.is_(None)).order_by(t.seq).limit(max_batch)
        ).all()
        params: list[dict[str, Any]] = []
        for seq, entry in rows:
            pos += 1
            digest = entry_hash(pos, seq, prev, entry)
            params.append({"b_seq": seq, "b_pos": pos, "b_prev": prev, "b_hash": digest})
            prev = digest
        if params and conn.dialect.name == "postgresql":
            # one statement per batch (executemany of single-row UPDATEs is ~10x slower here)
            conn.execute(
                text(
                    "UPDATE access_ledger AS l SET chain_pos = v.pos, prev_hash = v.prev,"
                    " hash = v.digest FROM unnest(CAST(:seqs AS bigint[]),"
                    " CAST(:positions AS bigint[]), CAST(:prevs AS text[]),"
                    " CAST(:digests AS text[])) AS v(seq, pos, prev, digest)"
                    " WHERE l.seq = v.seq AND l.chain_pos IS NULL"
                ),
                {
                    "seqs": [p["b_seq"] for p in params],
                    "positions": [p["b_pos"] for p in params],
                    "prevs": [p["b_prev"] for p in params],
                    "digests": [p["b_hash"] for p in params],
                },
            )
        elif params:
            conn.execute(
                update(access_ledger)
                .where(t.seq == bindparam("b_seq"), t.chain_pos.is_(None))
                .values(
                    chain_pos=bindparam("b_pos"),
                    prev_hash=bindparam("b_prev"),
                    hash=bindparam("b_hash"),
                ),
                params,
            )
    return SealResult(len(params), pos, prev)


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
    t = access_ledger.c
    query = select(t.seq, t.entry, t.chain_pos, t.prev_hash, t.hash)
    if customer_id is not None:
        query = query.where(t.customer_id == customer_id)
    if supply_point_id is not None:
        query = query.where(t.supply_point_id == supply_point_id)
    if party is not None:
        query = query.where(t.party == party)
    rows = _connection(target).execute(query.order_by(t.seq.desc()).limit(limit)).all()
    return [LedgerRecord(r[0], parse_entry(r[1]), r[2], r[3], r[4]) for r in rows]


# --- verify -------------------------------------------------------------------------------------

_CHAIN_SQL = (
    "SELECT chain_pos, seq, prev_hash, hash, entry FROM access_ledger"
    " WHERE chain_pos IS NOT NULL ORDER BY chain_pos"
)


def _stream_chain(conn: Connection, chunk: int) -> Iterator[list[Row]]:
    """Sealed rows in chain order, ``chunk`` at a time, through the driver's own cursor (speed)."""
    dbapi: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        cursor = dbapi.cursor(name="jointuse_ledger_verify")  # server-side cursor
        cursor.itersize = chunk
    else:
        cursor = dbapi.cursor()
    try:
        cursor.execute(_CHAIN_SQL)
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                return
            yield rows
    finally:
        cursor.close()


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
    t = access_ledger.c
    ro = read_only(engine)
    if engine.dialect.name == "postgresql":
        ro = ro.execution_options(isolation_level="REPEATABLE READ")
    with ro.connect() as conn, conn.begin() as tx:
        checkpoints = load_checkpoints(conn)
        verifier = ChainVerifier(watch={cp.chain_pos for cp in checkpoints})
        for rows in _stream_chain(conn, chunk):
            if not verifier.feed(rows):
                break
        unsealed = int(conn.execute(select(func.count()).where(t.chain_pos.is_(None))).scalar_one())
        if verifier.broken is None and unsealed:
            odd = conn.execute(
                select(t.seq, t.prev_hash, t.hash)
                .where(t.chain_pos.is_(None), (t.hash.is_not(None)) | (t.prev_hash.is_not(None)))
                .order_by(t.seq)
                .limit(1)
            ).first()
            if odd is not None:
                verifier.broken = ChainBreak(
                    "inconsistent_seal",
                    verifier.verified + 1,
                    int(odd[0]),
                    "chain_pos, prev_hash and hash all NULL",
                    f"prev_hash={odd[1]}, hash={odd[2]}",
                )
        head_pos, head_hash = sealed_head(conn)
        tx.rollback()
    problems = check_checkpoints(
        checkpoints,
        seen=verifier.seen,
        verified=verifier.verified,
        chain_broken=verifier.broken is not None,
        trusted_keys=trusted,
    )
    return VerifyResult(
        verified=verifier.verified,
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

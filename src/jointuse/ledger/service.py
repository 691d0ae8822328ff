"""Appending, sealing and verifying the access ledger (アクセス記録).

Storage: three insert-only tables (migration ``0001_ledger``): ``access_ledger`` (the entries),
``access_ledger_seal`` (the hash chain: one row per sealed entry) and ``ledger_checkpoint``.

Appending
    :func:`append` inserts the entry on the caller's session or connection, inside the transaction
    of the change it records: a rolled-back transaction leaves no entry, a committed one always
    has one. One ``INSERT`` with no lock on the chain head, so requests do not queue behind each
    other; the entry is *unsealed* until the sealer writes its seal row.

    With a ledger key (:mod:`jointuse.ledger.keys`, bound to the engine by the composition
    root) the entry carries its MAC over its ``seq`` and text. The ``seq`` is drawn first, in
    the same transaction: on PostgreSQL one more round trip (``jointuse_ledger_next_seq()``,
    which takes the table's ``ROW EXCLUSIVE`` lock before ``nextval``, as the ``INSERT`` itself
    would: the sealer's floor below relies on that order); on SQLite one lookup of the next
    ``AUTOINCREMENT`` value under the write lock the transaction already holds. Without a key
    (tests; a server run ``--unauthenticated``) the MAC is NULL; an engine without a key refuses
    to append to a ledger that is already authenticated (:class:`LedgerKeyRequired`), checked
    once per engine.

Sealing (transparency-log style: a short sealing delay)
    :func:`seal` runs in its own short transaction: it takes the sealer lock (PostgreSQL:
    ``pg_advisory_xact_lock``; SQLite: the write lock of ``BEGIN IMMEDIATE``, after its turn in
    the process's queue of writers, :func:`~jointuse.core.db.writer_turn`), reads the head,
    takes up to ``max_batch`` *committed* unsealed entries in ``seq`` order and inserts their seal
    rows (next chain positions, ``prev_hash``, ``hash``) in one statement.

    With the ledger key the sealer launders nothing: it extends only a head that passes
    :func:`~jointuse.ledger.checkpoint.check_head` (its seal MAC verifies), and only since its
    own last run's head is still there (a truncation behind a running sealer stops it); it seals
    only entries whose MAC verifies, leaving the others unsealed — *refused*, logged and counted
    in :class:`SealResult` (``ledger verify`` reports them as forged); and it writes the seal
    MAC on the run's last seal. Without a key it seals every entry, but only of a chain that was
    never authenticated. Chain positions are
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
    starts from 0 (one full anti-join). A refused entry is passed by the floor like a sealed
    one (each sealer process reports it once). The server runs a :class:`BackgroundSealer`,
    which also exports a signed checkpoint now and then; ``jointuse ledger seal`` and the tests
    call :func:`seal_all` synchronously. ``ledger verify`` never seals.

Verifying
    :func:`verify` (in :mod:`jointuse.ledger.auditing`, re-exported here) only reads: it
    recomputes every hash in Python, in parallel segments (:mod:`jointuse.ledger.verifying`),
    checks every link, the signed checkpoints (stored and exported), the MACs when given the key,
    and lists what it could not check.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, cast, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from jointuse.core.db import hot_insert, hot_scalar, writer_turn
from jointuse.core.periodic import PeriodicWorker
from jointuse.ledger.auditing import VerifyResult as VerifyResult
from jointuse.ledger.auditing import verify as verify
from jointuse.ledger.chain import LedgerEntry, entry_columns, entry_hash, format_time, parse_entry
from jointuse.ledger.checkpoint import (
    HeadNotAuthenticated,
    LedgerKeyRequired,
    check_head,
    export_checkpoints,
    last_authenticated,
    sealed_head,
    sign_checkpoint,
)
from jointuse.ledger.keys import LedgerKey, bound_key
from jointuse.ledger.pseudonyms import (
    CUSTOMER,
    SUPPLY_POINT,
    key_lookup,
    pg_sql,
    pseudonymise,
    subject_filter,
    subjects,
)
from jointuse.ledger.tables import JSON_FIELDS, TEXT_FIELDS, access_ledger, access_ledger_seal
from jointuse.ledger.verifying import DEFAULT_VERIFY_CHUNK as DEFAULT_VERIFY_CHUNK

log = logging.getLogger(__name__)

SEALER_LOCK_KEY = 0x6A75_6C65_6467_6572  # "juledger": the PostgreSQL advisory lock of the sealer
DEFAULT_SEAL_BATCH = 5000

_COLUMNS = ("entry", *TEXT_FIELDS, *JSON_FIELDS, "mac")


class _Bound:
    """The default of ``key`` parameters: the key bound to the engine (:func:`bound_key`)."""


BOUND = _Bound()
KeyArg = LedgerKey | None | _Bound


def _connection(target: Session | Connection) -> Connection:
    return target.connection() if isinstance(target, Session) else target


@functools.cache
def _insert_sql(dialect: str, *, with_seq: bool) -> str:
    columns = ("seq", *_COLUMNS) if with_seq else _COLUMNS
    if dialect == "postgresql":
        values = ", ".join(f"%({c})s" for c in columns)
        returning = "" if with_seq else " RETURNING seq"
    else:
        values = ", ".join(f":{c}" for c in columns)
        returning = ""  # the cursor's lastrowid
    return f"INSERT INTO access_ledger ({', '.join(columns)}) VALUES ({values}){returning}"


_PG_NEXT_SEQ = "SELECT jointuse_ledger_next_seq()"
_SQLITE_NEXT_SEQ = (
    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'access_ledger'), 0),"
    " coalesce((SELECT max(seq) FROM access_ledger), 0)) + 1"
)


def _next_seq(conn: Connection) -> int:
    """The ``seq`` the next entry gets (module docstring, "Appending")."""
    if conn.dialect.name == "postgresql":
        return int(conn.exec_driver_sql(_PG_NEXT_SEQ).scalar_one())
    return int(hot_scalar(conn, _SQLITE_NEXT_SEQ))


_KEYED: weakref.WeakKeyDictionary[Any, tuple[bool, float]] = weakref.WeakKeyDictionary()
_RECHECK_SECONDS = 10.0


def _refuse_if_authenticated(conn: Connection) -> None:
    """An engine without a key must not add MAC-less entries to an authenticated ledger (the
    sealer would refuse them, and verify report them as forged): refuse at once. Looked up
    once per engine (one probe of the index of authenticated seals), again at most every
    ten seconds while the ledger is not authenticated (another process may authenticate it)."""
    pool = conn.engine.pool
    known = _KEYED.get(pool)
    now = time.monotonic()
    if known is None or (not known[0] and now - known[1] > _RECHECK_SECONDS):
        known = _KEYED[pool] = (last_authenticated(conn) is not None, now)
    if known[0]:
        raise LedgerKeyRequired(
            "the access ledger is authenticated: entries can only be written with the ledger "
            "key (set JOINTUSE_LEDGER_KEY_FILE)",
            valid="the ledger key file",
        )


def append(
    target: Session | Connection,
    entry: LedgerEntry,
    *,
    now: datetime | None = None,
    key: KeyArg = BOUND,
) -> int:
    """Record ``entry`` in the caller's transaction (unsealed); return its ``seq``.

    A version 3 entry (the default) is stored with keyed pseudonyms in place of its customer
    and supply point IDs (:mod:`jointuse.ledger.pseudonyms`).

    ``key``: the ledger key (default: the one bound to the engine, see :func:`bound_key`);
    ``None`` writes the entry without a MAC."""
    stamped = entry.stamped(now or datetime.now(UTC))
    conn = _connection(target)
    if isinstance(key, _Bound):
        key = bound_key(conn.engine)
    # Keyed pseudonyms instead of the IDs (version 3); a subject's key is made on first use.
    lookup = key_lookup(stamped) if stamped.version >= 3 else None
    seq: int | None = None
    if lookup is not None:
        if key is not None and conn.dialect.name == "postgresql":
            # one round trip: the keys are read in the statement that draws the seq
            sql, params = lookup
            drawn, found = conn.exec_driver_sql(pg_sql(f"{_PG_NEXT_SEQ}, {sql}"), params).one()
            seq = int(drawn)
            stamped = pseudonymise(conn, stamped, found=str(found))
        else:
            stamped = pseudonymise(conn, stamped)
    columns: dict[str, object] = dict(entry_columns(stamped))
    dialect = conn.dialect.name
    if key is None:
        _refuse_if_authenticated(conn)
        columns["mac"] = None
        if dialect == "postgresql":
            sql = _insert_sql(dialect, with_seq=False)
            return int(conn.exec_driver_sql(sql, columns).scalar_one())
        # SQLite: on the driver connection when it may (the gate's hot path; see core.db).
        return hot_insert(conn, _insert_sql(dialect, with_seq=False), columns)
    if seq is None:
        seq = _next_seq(conn)
    columns["seq"] = seq
    columns["mac"] = key.entry_mac(seq, str(columns["entry"]))
    if dialect == "postgresql":
        conn.exec_driver_sql(_insert_sql(dialect, with_seq=True), columns)
    else:
        hot_insert(conn, _insert_sql(dialect, with_seq=True), columns)
    return seq


@dataclass(frozen=True, slots=True)
class RefusedEntry:
    """An unsealed entry the keyed sealer would not seal: ``reason`` is ``"no MAC"`` (written
    without the key, or inserted directly in the database) or ``"MAC does not verify"``."""

    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class SealResult:
    """What a sealing run did. ``refused``: entries left unsealed (keyed sealer only);
    ``examined``: entries looked at (sealed + refused)."""

    sealed: int
    head_pos: int
    head_hash: str
    refused: tuple[RefusedEntry, ...] = ()
    examined: int = 0


@dataclass(slots=True)
class _Floor:
    """What a sealer knows about one database: every entry with ``seq <= floor`` is sealed (or
    refused); ``head``: the chain's head as this process's last keyed run left it."""

    floor: int = 0
    pending: list[tuple[int, frozenset[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    head: tuple[int, str] | None = None


_FLOORS: weakref.WeakKeyDictionary[Any, _Floor] = weakref.WeakKeyDictionary()
_FLOORS_LOCK = threading.Lock()
_MAX_PENDING = 256

_PG_WRITERS_SQL = (
    "SELECT virtualtransaction FROM pg_locks WHERE locktype = 'relation'"
    " AND relation = CAST('access_ledger' AS regclass) AND mode = 'RowExclusiveLock'"
    " AND pid IS DISTINCT FROM pg_backend_pid()"
)
_UNSEALED_SQL = (
    "SELECT l.seq, l.entry, l.mac FROM access_ledger AS l WHERE l.seq > :floor AND NOT EXISTS"
    " (SELECT 1 FROM access_ledger_seal AS s WHERE s.seq = l.seq) ORDER BY l.seq LIMIT :n"
)
_PG_SEAL_SQL = (
    "INSERT INTO access_ledger_seal (chain_pos, seq, prev_hash, hash, mac)"
    " SELECT * FROM unnest(CAST(:positions AS bigint[]), CAST(:seqs AS bigint[]),"
    " CAST(:prevs AS text[]), CAST(:digests AS text[]), CAST(:macs AS text[]))"
)
_SQLITE_SEAL_SQL = (
    "INSERT INTO access_ledger_seal (chain_pos, seq, prev_hash, hash, mac) VALUES (?, ?, ?, ?, ?)"
)


def _floor_of(engine: Engine) -> _Floor:
    with _FLOORS_LOCK:
        state = _FLOORS.get(engine.pool)
        if state is None:
            state = _FLOORS[engine.pool] = _Floor()
        return state


def _check_not_truncated(conn: Connection, head: tuple[int, str] | None) -> None:
    """The head this process's last keyed run left must still be in the chain, unchanged."""
    if head is None or head[0] == 0:
        return
    pos, digest = head
    s = access_ledger_seal.c
    found = conn.execute(select(s.hash).where(s.chain_pos == pos)).scalar()
    if found != digest:
        now = "is gone" if found is None else f"now has hash {found}"
        raise HeadNotAuthenticated(
            f"the chain was truncated or rewritten in the database: position {pos} had hash "
            f"{digest} after this sealer's last run and {now}; sealing stopped "
            "(see `jointuse ledger verify --key … --checkpoint-file …`)",
            chain_pos=pos,
        )


def seal(
    engine: Engine,
    max_batch: int = DEFAULT_SEAL_BATCH,
    *,
    key: KeyArg = BOUND,
    adopt: bool = False,
) -> SealResult:
    """Seal up to ``max_batch`` committed unsealed entries, in ``seq`` order, in one transaction.

    ``key`` (default: the engine's bound key): see "Sealing" in the module docstring.
    ``adopt``: accept the current head even if it is not authenticated (once, after checking
    the chain: a ledger from before keys). Raises
    :class:`~jointuse.ledger.checkpoint.HeadNotAuthenticated` /
    :class:`~jointuse.ledger.checkpoint.LedgerKeyRequired` and seals nothing when the head may
    not be extended.
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    if isinstance(key, _Bound):
        key = bound_key(engine)
    state = _floor_of(engine)
    refused: list[RefusedEntry] = []
    # SQLite: BEGIN IMMEDIATE (see core.db), in this process's queue of writers.
    with state.lock, writer_turn(engine), engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEALER_LOCK_KEY})
        if key is not None and not adopt:
            _check_not_truncated(conn, state.head)
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
        rows = conn.execute(text(_UNSEALED_SQL), {"floor": state.floor, "n": max_batch}).all()
        if rows:
            pos, prev = check_head(conn, key, adopt=adopt)
        else:
            pos, prev = sealed_head(conn)
        positions, seqs, prevs, digests = [], [], [], []
        for seq, entry, mac in rows:
            if key is not None and not key.entry_mac_valid(seq, entry, mac):
                refused.append(
                    RefusedEntry(seq, "no MAC" if mac is None else "MAC does not verify")
                )
                continue
            pos += 1
            digest = entry_hash(pos, seq, prev, entry)
            positions.append(pos)
            seqs.append(seq)
            prevs.append(prev)
            digests.append(digest)
            prev = digest
        macs: list[str | None] = [None] * len(positions)
        if positions and key is not None:
            macs[-1] = key.seal_mac(pos, prev)
        if positions and postgres:
            conn.execute(
                text(_PG_SEAL_SQL),
                {
                    "positions": positions,
                    "seqs": seqs,
                    "prevs": prevs,
                    "digests": digests,
                    "macs": macs,
                },
            )
        elif positions:
            conn.exec_driver_sql(
                _SQLITE_SEAL_SQL, list(zip(positions, seqs, prevs, digests, macs, strict=True))
            )
    # Committed: every visible entry up to `settled` is sealed (or refused) now (up to the last
    # one looked at, if the batch was full and more may wait).
    new_floor = settled if len(rows) < max_batch else min(settled, int(rows[-1][0]))
    state.floor = max(state.floor, new_floor)
    state.pending = pending
    if key is not None:
        state.head = (pos, prev)
    for r in refused:
        log.warning(
            "ledger entry seq %d not sealed: %s (not written by the application with the "
            "ledger key: forged, or written without the key)",
            r.seq,
            r.reason,
        )
    return SealResult(len(positions), pos, prev, tuple(refused), len(rows))


def seal_all(
    engine: Engine,
    max_batch: int = DEFAULT_SEAL_BATCH,
    *,
    key: KeyArg = BOUND,
    adopt: bool = False,
) -> SealResult:
    """Seal until no committed entry is left unsealed (or refused); return the totals and the
    new head (``adopt`` applies to the first run)."""
    total = 0
    refused: list[RefusedEntry] = []
    examined = 0
    while True:
        result = seal(engine, max_batch, key=key, adopt=adopt)
        adopt = False
        total += result.sealed
        refused += result.refused
        examined += result.examined
        if result.examined < max_batch:
            return SealResult(total, result.head_pos, result.head_hash, tuple(refused), examined)


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """A stored entry with its place in the chain (``chain_pos`` etc. None while unsealed).

    ``entry`` names its customer and supply point by ID wherever it can: in clear for entries
    from before pseudonyms, and for version 3 entries while the subject's key lives; a
    shredded subject stays a pseudonym. ``customer_ref`` / ``supply_point_ref``: the stored
    pseudonyms (None for entries from before pseudonyms)."""

    seq: int
    entry: LedgerEntry
    chain_pos: int | None
    prev_hash: str | None
    hash: str | None
    customer_ref: str | None = None
    supply_point_ref: str | None = None


def find_entries(
    target: Session | Connection,
    *,
    customer_id: str | None = None,
    supply_point_id: str | None = None,
    party: str | None = None,
    acting_user: str | None = None,
    purpose: str | None = None,
    decision: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    before_seq: int | None = None,
    oldest_first: bool = False,
    limit: int = 1000,
) -> list[LedgerRecord]:
    """Entries about a customer / supply point / by a party, newest first (for disclosure, 開示,
    and for auditors: ``jointuse ledger show|export``).

    The one query of the ledger by its content: every lookup by customer or supply point goes
    through here. A customer or point is matched through the pseudonyms its live keys give (and
    its clear ID in entries from before pseudonyms, unless erased): once its keys are shredded
    nothing matches (:mod:`jointuse.ledger.pseudonyms`). Filters combine with AND:
    ``acting_user`` (the person within the party, inside the entry's JSON), ``purpose``,
    ``decision`` (``allowed`` / ``denied``), ``since`` (inclusive) and ``until`` (exclusive) on
    ``recorded_at``. Paging is by ``seq`` (keyset): ``before_seq`` for the next page newest
    first, ``after_seq`` with ``oldest_first`` for a stream oldest first."""
    t, s = access_ledger.c, access_ledger_seal.c
    conn = _connection(target)
    query = select(t.seq, t.entry, s.chain_pos, s.prev_hash, s.hash).select_from(
        access_ledger.outerjoin(access_ledger_seal, s.seq == t.seq)
    )
    if customer_id is not None:
        query = query.where(subject_filter(conn, CUSTOMER, customer_id))
    if supply_point_id is not None:
        query = query.where(subject_filter(conn, SUPPLY_POINT, supply_point_id))
    if party is not None:
        query = query.where(t.party == party)
    if purpose is not None:
        query = query.where(t.purpose == purpose)
    if decision is not None:
        query = query.where(t.decision == decision)
    if since is not None:
        query = query.where(t.recorded_at >= format_time(since))
    if until is not None:
        query = query.where(t.recorded_at < format_time(until))
    if acting_user is not None:
        if conn.dialect.name == "postgresql":
            user = cast(t.entry, JSONB)["acting_user"].astext
        else:
            user = func.json_extract(t.entry, "$.acting_user")
        query = query.where(user == acting_user)
    if after_seq is not None:
        query = query.where(t.seq > after_seq)
    if before_seq is not None:
        query = query.where(t.seq < before_seq)
    order = t.seq.asc() if oldest_first else t.seq.desc()
    rows = conn.execute(query.order_by(order).limit(limit)).all()
    parsed = [(r, parse_entry(r[1])) for r in rows]
    refs = [
        value
        for _, e in parsed
        if e.version >= 3
        for value in (e.customer_id, e.supply_point_id)
        if value is not None
    ]
    known = subjects(conn, refs) if refs else {}
    out = []
    for r, e in parsed:
        if e.version < 3:
            out.append(LedgerRecord(r[0], e, r[2], r[3], r[4]))
            continue
        c_ref, p_ref = e.customer_id, e.supply_point_id
        c = known[c_ref][1] if c_ref in known else c_ref
        p = known[p_ref][1] if p_ref in known else p_ref
        shown = e if (c, p) == (c_ref, p_ref) else e.with_subjects(c, p)
        out.append(LedgerRecord(r[0], shown, r[2], r[3], r[4], c_ref, p_ref))
    return out


def seq_bounds(target: Session | Connection) -> tuple[int, int]:
    """The lowest and highest ``seq`` on the ledger ((0, 0) when empty): the range a stream of
    :func:`find_entries` pages walks (for progress)."""
    t = access_ledger.c
    low, high = _connection(target).execute(select(func.min(t.seq), func.max(t.seq))).one()
    return int(low or 0), int(high or 0)


# --- background sealer --------------------------------------------------------------------------


class BackgroundSealer(PeriodicWorker):
    """Seals the ledger every ``interval`` seconds in a daemon thread (the server starts one).

    A failing run (database briefly unavailable) is logged at ERROR with its traceback, counted in
    ``failures`` and kept in ``last_error``; the next run tries again. ``stop()`` seals once more.

    A head that may not be extended (:class:`~jointuse.ledger.checkpoint.HeadNotAuthenticated`:
    tampering, or a ledger from before keys not adopted yet) stops sealing: logged at ERROR once
    per distinct problem (not every half second), kept in ``problem``; the next runs try again,
    so sealing resumes by itself once the operator has dealt with it.

    Checkpoints outside the database: with a ``key`` and an ``export`` file, a run that finds
    the head moved since the last export, and at least ``export_interval`` seconds after it
    (and the last run at ``stop()`` in any case), signs the head and appends the checkpoint to
    the file (:mod:`jointuse.ledger.checkpoint`). It is not stored in the database: the file is
    the copy a database administrator cannot reach.
    """

    what = "ledger sealing"
    thread_name = "ledger-sealer"

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = 0.5,
        max_batch: int = DEFAULT_SEAL_BATCH,
        key: KeyArg = BOUND,
        export: Path | None = None,
        export_interval: float = 60.0,
    ) -> None:
        super().__init__(interval=interval)
        self.engine = engine
        self.max_batch = max_batch
        self.key = bound_key(engine) if isinstance(key, _Bound) else key
        self.export = export
        self.export_interval = export_interval
        self.problem: HeadNotAuthenticated | LedgerKeyRequired | None = None
        self.exported: tuple[int, str] | None = None
        self._exported_at = float("-inf")
        self._final = False

    def run_once(self) -> None:
        try:
            result = seal_all(self.engine, self.max_batch, key=self.key)
        except (HeadNotAuthenticated, LedgerKeyRequired) as exc:
            if self.problem is None or self.problem.message != exc.message:
                log.error("ledger sealing stopped: %s", exc.message)
            self.problem = exc
            self.last_error = exc
            return
        if self.problem is not None:
            log.warning("ledger sealing resumed")
        self.problem = None
        self._export(result.head_pos, result.head_hash)

    def _export(self, head_pos: int, head_hash: str) -> None:
        if self.key is None or self.export is None or head_pos == 0:
            return
        if self.exported == (head_pos, head_hash):
            return
        now = time.monotonic()
        if not self._final and now - self._exported_at < self.export_interval:
            return
        cp = sign_checkpoint(self.key, head_pos, head_hash)
        export_checkpoints(self.export, [cp], skip_held=False)
        self.exported = (head_pos, head_hash)
        self._exported_at = now

    def stop(self, timeout: float = 10.0) -> None:
        self._final = True
        super().stop(timeout)

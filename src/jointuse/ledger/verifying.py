"""Verifying the access ledger's hash chain (検証): the fast path and the exact path.

:func:`verify` recomputes **every** hash itself (``hashlib``, over the documented hash message,
see :mod:`jointuse.ledger.chain`) and checks every link, then checks the signed checkpoints.

Fast path: parallel segments of aggregated chunks
    Two key lookups find the lowest and the highest chain position ``H``; when the lowest is 1,
    the range ``1 .. H`` is cut into contiguous segments, each verified by a worker with its own
    database connection (each chunk proves that all of its positions are there): the first in
    this process, the others in forked processes (PostgreSQL: they import this transaction's
    snapshot, so all read the same state; SQLite: the chain is insert-only, so positions
    ``<= H`` read the same rows). On PostgreSQL a reader thread in each worker fetches the
    next chunk while the current one is hashed.

    A worker reads a chunk of positions with two queries (:func:`read_chunk`): one aggregate row
    of the seals (their count, and in chain order their ``seq`` values, hashes and
    ``prev_hash`` values, each run together in one string), and the stored entry texts of those
    seals (SQLite: through a join, one rowid probe each; PostgreSQL: a range scan of ``seq``,
    lined up with the seals by comparing the ``seq`` lists). It then builds every hash message
    itself from the position, the stored ``seq``, ``prev_hash`` and entry
    (:func:`chunk_messages`), hashes each with ``hashlib``, and compares whole strings at once:
    the hashes, hex-encoded and run together, against the stored ones; the stored ``prev_hash``
    values against the head followed by all hashes but the last. (Concatenating each message in
    SQL and fetching it with its hashes row by row cost 2.7 µs per entry on SQLite; this way,
    1.6-1.9 µs, of which hashing is 0.65.)
    A worker returns the stored ``prev_hash`` of its first position and the hash of its last;
    the joins between segments are checked here (genesis hash for the first).

    A chunk not in this shape (a missing position or entry; on PostgreSQL, an entry sealed out
    of ``seq`` order because its transaction committed late) is read again row by row through
    a join and checked with the same rules (:func:`_chunk_verifies`).

Exact path
    Anything the fast path does not prove (a gap in the positions, a chunk that fails, a worker
    that fails) is handed to the sequential path from the last position proven good: it streams
    the rest of the chain and replays a failing chunk through
    :class:`~jointuse.ledger.chain.ChainVerifier`, which names the first break and its kind.

This module proves the chain (:func:`verify_chain`); :mod:`jointuse.ledger.auditing` builds the
whole verdict on it (checkpoints, MACs, unsealed entries, what could not be checked).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import multiprocessing
import os
import queue
import struct
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from typing import Any, TypeVar

from sqlalchemy import Connection, func, select, text

from jointuse.core.db import SQLITE_MMAP_BYTES
from jointuse.ledger.chain import GENESIS_HASH, ChainVerifier, Row
from jointuse.ledger.tables import access_ledger_seal

DEFAULT_VERIFY_CHUNK = 10_000
PARALLEL_MIN_ENTRIES = 20_000
"""Below this many sealed entries :func:`verify` uses one worker (forking costs more)."""
MAX_WORKERS = 8

_NL = {"postgresql": "E'\\n'", "sqlite": "char(10)"}
_PARAM = {"postgresql": "%s", "sqlite": "?"}
_PG_PLAN = ("SET LOCAL enable_sort = off", "SET LOCAL enable_bitmapscan = off")
"""Read a range in key order from the primary key index: with stale statistics the planner may
otherwise pick a bitmap scan and then sort the whole range (on disk)."""


@functools.cache
def stream_sql(dialect: str, *, ranged: bool) -> str:
    """``(hash, prev_hash, message)`` per seal in chain order (message NULL: the entry is gone).

    ``ranged``: two parameters, the first and last chain position; otherwise one, the position
    after which to start.
    """
    nl = _NL[dialect]
    p = _PARAM[dialect]
    if dialect == "postgresql":
        # a scalar subquery: one index probe per seal row, never a hash join over the whole
        # ledger for a range of a few thousand positions
        entry = "(SELECT l.entry FROM access_ledger AS l WHERE l.seq = s.seq)"
        message = f"convert_to(s.chain_pos || {nl} || s.seq || {nl} || s.prev_hash || {nl} || {entry}, 'UTF8')"  # noqa: E501
        source = "access_ledger_seal AS s"
    else:
        message = (
            f"CAST(s.chain_pos || {nl} || s.seq || {nl} || s.prev_hash || {nl} || l.entry AS BLOB)"
        )
        source = "access_ledger_seal AS s LEFT JOIN access_ledger AS l ON l.seq = s.seq"
    where = f"s.chain_pos BETWEEN {p} AND {p}" if ranged else f"s.chain_pos > {p}"
    return f"SELECT s.hash, s.prev_hash, {message} FROM {source} WHERE {where} ORDER BY s.chain_pos"


_ROWS_SQL = (
    "SELECT s.chain_pos, s.seq, s.prev_hash, s.hash, l.entry FROM access_ledger_seal AS s"
    " LEFT JOIN access_ledger AS l ON l.seq = s.seq WHERE s.chain_pos > :after"
    " ORDER BY s.chain_pos LIMIT :n"
)

_LOWEST = -(1 << 62)
"""A position below any chain position: ``after`` for the whole chain (a tampered row at
position 0 or below is then read, and reported as a gap)."""


def _after(verified: int) -> int:
    return verified if verified > 0 else _LOWEST


_Chunk = list[tuple[str, str, bytes | None]]
_T = TypeVar("_T")

Progress = Callable[[int, int], None]
"""Hears ``(positions verified so far, highest chain position)`` while :func:`verify` runs."""
_cursor_names = iter(range(1, 1 << 62))


def _rows(
    dbapi: Any, dialect: str, sql: str, params: tuple[int, ...], chunk: int
) -> Generator[_Chunk]:
    """Rows of ``sql``, ``chunk`` at a time, through the driver's own cursor (server-side on
    PostgreSQL, binary: bytea arrives as raw bytes)."""
    if dialect == "postgresql":
        cursor = dbapi.cursor(name=f"jointuse_ledger_verify_{next(_cursor_names)}", binary=True)
        cursor.itersize = chunk
    else:
        cursor = dbapi.cursor()
        cursor.arraysize = chunk
    cursor.execute(sql, params)
    try:
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                return
            yield rows
    finally:
        cursor.close()


_END = object()


def _prefetched(chunks: Generator[_T]) -> Generator[_T]:
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


# --- the aggregated fast path --------------------------------------------------------------------


@functools.cache
def seal_chunk_sql(dialect: str) -> str:
    """One row about the seals at chain positions ``lo .. hi`` (two parameters): their count,
    then, in chain order, their ``seq`` values (decimal, comma-separated), hashes and
    ``prev_hash`` values (each 64 hex, run together).

    The aggregates concatenate in chain order: on SQLite a range of the integer primary key is
    read in key order; on PostgreSQL they read a subquery ordered by ``chain_pos``. (An engine
    that did otherwise would only make the chunk fail here and go to the row-by-row path, never
    pass a bad chain: each hash covers its position.)
    """
    if dialect == "postgresql":
        return (
            "SELECT count(*), string_agg(CAST(seq AS TEXT), ','), string_agg(hash, ''),"
            " string_agg(prev_hash, '') FROM (SELECT seq, hash, prev_hash"
            " FROM access_ledger_seal WHERE chain_pos BETWEEN %s AND %s ORDER BY chain_pos) AS s"
        )
    return (
        "SELECT count(*), group_concat(seq, ','), group_concat(hash, ''),"
        " group_concat(prev_hash, '') FROM access_ledger_seal WHERE chain_pos BETWEEN ? AND ?"
    )


@functools.cache
def entries_chunk_sql(dialect: str) -> str:
    """The stored entries (as UTF-8 bytes) of the seals read by :func:`seal_chunk_sql`.

    SQLite: the entry of each seal at chain positions ``lo .. hi``, in chain order (a join:
    each probe is a rowid lookup; NULL where the entry is gone). PostgreSQL: ``(seq, entry)``
    of the entries with ``seq`` from the chunk's first to its last sealed ``seq``, in ``seq``
    order (a range scan of the key: a join probes the index once per row, several times
    slower); :func:`read_chunk` lines them up with the seals.
    """
    if dialect == "postgresql":
        return (
            "SELECT seq, convert_to(entry, 'UTF8') FROM access_ledger"
            " WHERE seq BETWEEN %s AND %s ORDER BY seq"
        )
    return (
        "SELECT CAST(l.entry AS BLOB) FROM access_ledger_seal AS s"
        " LEFT JOIN access_ledger AS l ON l.seq = s.seq"
        " WHERE s.chain_pos BETWEEN ? AND ? ORDER BY s.chain_pos"
    )


@dataclass(frozen=True, slots=True)
class AggregatedChunk:
    """Chain positions ``lo .. hi`` as read by :func:`read_chunk`.

    ``count``, ``seqs``, ``hashes``, ``prevs``: the row of :func:`seal_chunk_sql`. ``texts``:
    the stored entry of each seal, in chain order (None for an entry that is gone); ``texts``
    itself is None when the entries could not be lined up with the seals by a range of ``seq``
    (PostgreSQL: an entry sealed out of ``seq`` order, e.g. one whose transaction committed
    late): the chunk then goes row by row.
    """

    lo: int
    hi: int
    count: int
    seqs: str | None
    hashes: str | None
    prevs: str | None
    texts: Sequence[bytes | None] | None

    @property
    def first_prev(self) -> str | None:
        """The stored ``prev_hash`` of the chunk's first seal (None: no seals)."""
        return self.prevs[:64] if self.prevs else None


def read_chunk(dbapi: Any, dialect: str, lo: int, hi: int) -> AggregatedChunk:
    """Read chain positions ``lo .. hi`` with two queries on the driver connection ``dbapi``."""
    cursor = dbapi.cursor(binary=True) if dialect == "postgresql" else dbapi.cursor()
    try:
        cursor.execute(seal_chunk_sql(dialect), (lo, hi))
        count, seqs, hashes, prevs = cursor.fetchone()
        texts: Sequence[bytes | None] | None = None
        if count and dialect == "postgresql":
            first, _, _ = seqs.partition(",")
            _, _, last = seqs.rpartition(",")
            cursor.execute(entries_chunk_sql(dialect), (int(first), int(last)))
            rows = cursor.fetchall()
            if rows:
                entry_seqs, found = zip(*rows, strict=True)
                if ",".join(map(str, entry_seqs)) == seqs:  # exactly the sealed ones
                    texts = found
        elif count:
            cursor.execute(entries_chunk_sql(dialect), (lo, hi))
            rows = cursor.fetchall()
            texts = [text for (text,) in rows]
    finally:
        cursor.close()
    return AggregatedChunk(lo, hi, count, seqs, hashes, prevs, texts)


_MESSAGE = b"%d\n%b\n%b\n%b"
"""The hash message (:func:`jointuse.ledger.chain.hash_message`) of (position, seq, prev_hash,
entry), as bytes."""


@functools.lru_cache(maxsize=8)
def _hex64(count: int) -> struct.Struct:
    """Splits ``count`` 64-character hashes run together (one C call per chunk)."""
    return struct.Struct("64s" * count)


def _message_parts(chunk: AggregatedChunk) -> Iterator[tuple[int, bytes, bytes, Any]] | None:
    """``(position, seq, prev_hash, entry)`` of every position of ``chunk`` in chain order, or
    None when the chunk is not in the shape this path handles (a missing position, entries not
    lined up: see :class:`AggregatedChunk`). An entry that is gone is None: formatting it into a
    message raises ``TypeError``."""
    count, seqs, hashes, prevs, texts = (
        chunk.count,
        chunk.seqs,
        chunk.hashes,
        chunk.prevs,
        chunk.texts,
    )
    lo, hi = chunk.lo, chunk.hi
    # chain_pos is the key: `count` positions in lo .. hi are all of them
    if count != hi - lo + 1 or texts is None or seqs is None or hashes is None or prevs is None:
        return None
    if len(hashes) != 64 * count or len(prevs) != 64 * count or len(texts) != count:
        return None
    seq_texts = seqs.encode().split(b",")
    if len(seq_texts) != count:
        return None
    return zip(
        range(lo, hi + 1), seq_texts, _hex64(count).unpack(prevs.encode()), texts, strict=True
    )


def chunk_messages(chunk: AggregatedChunk) -> list[bytes] | None:
    """The hash message of every position of ``chunk``, in chain order, built from the position,
    the stored ``seq``, ``prev_hash`` and entry; None when the chunk is not in the shape this path
    handles or an entry is gone."""
    parts = _message_parts(chunk)
    if parts is None:
        return None
    try:
        return [_MESSAGE % part for part in parts]
    except TypeError:  # an entry is gone (None)
        return None


def aggregated_chunk_verifies(chunk: AggregatedChunk, head: str) -> str | None:
    """The hash of the chunk's last position if every position ``lo .. hi`` is sealed, links
    to the one before (``head`` first) and hashes to its stored hash; otherwise None.

    Every hash is recomputed here (``hashlib``) over the documented message, built here from the
    position, the stored ``seq`` and ``prev_hash`` and the stored entry text; the comparisons
    (links, hashes) are of whole strings at once.
    """
    parts = _message_parts(chunk)
    hashes, prevs = chunk.hashes, chunk.prevs
    if parts is None or hashes is None or prevs is None:
        return None
    if prevs[:64] != head or prevs[64:] != hashes[:-64]:
        return None
    sha256, message = hashlib.sha256, _MESSAGE
    try:
        digests = b"".join([sha256(message % part).digest() for part in parts])
    except TypeError:  # an entry is gone (None)
        return None
    if digests.hex() != hashes:
        return None
    return str(hashes[-64:])


def _aggregated(
    dbapi: Any, dialect: str, lo: int, hi: int, chunk: int
) -> Generator[AggregatedChunk]:
    for start in range(lo, hi + 1, chunk):
        yield read_chunk(dbapi, dialect, start, min(start + chunk - 1, hi))


# --- segments -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """What one worker proved about chain positions ``lo .. hi``.

    ``verified`` rows from ``lo`` on link to each other and hash to their stored hashes (the first
    row's link is ``first_prev``, checked by the caller against the previous segment);
    ``last_hash`` is the hash of the last of them (``first_prev`` when none verified).
    """

    lo: int
    hi: int
    verified: int
    first_prev: str | None
    last_hash: str | None

    @property
    def complete(self) -> bool:
        return self.verified == self.hi - self.lo + 1


def verify_segment(
    dbapi: Any,
    dialect: str,
    lo: int,
    hi: int,
    chunk: int,
    *,
    prefetch: bool | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> SegmentResult:
    """Verify chain positions ``lo .. hi`` on the driver connection ``dbapi``, ``chunk``
    positions at a time: each chunk through the aggregated path
    (:func:`aggregated_chunk_verifies`), or, when it is not in that path's shape, row by row
    (:func:`_chunk_verifies`). Stops at the first chunk that verifies neither way.

    ``prefetch`` (default: on PostgreSQL only) reads the next chunk in a thread meanwhile. The
    PostgreSQL driver releases the GIL while it waits for the server, so the server's work
    overlaps the hashing; SQLite's driver releases and retakes it for every row it steps, and
    two threads handing it over row by row cost more than they overlap (measured: 1.8 µs per
    entry without, 2.7 µs with). ``on_chunk`` is called with the number of positions of each
    chunk that verifies.
    """
    if prefetch is None:
        prefetch = dialect == "postgresql"
    with _collector_paused():
        return _verify_segment(dbapi, dialect, lo, hi, chunk, prefetch, on_chunk or _ignore)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused: a chunk allocates some ten thousand row tuples,
    none of them in a cycle, and every 700 allocations would start a collection that scans them
    for nothing (about 5 % of a segment's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _ignore(_verified: int) -> None:
    pass


def _verify_segment(
    dbapi: Any,
    dialect: str,
    lo: int,
    hi: int,
    chunk: int,
    prefetch: bool,
    on_chunk: Callable[[int], None],
) -> SegmentResult:
    done = lo - 1
    first_prev: str | None = None
    last: str | None = None
    while done < hi:
        chunks = _aggregated(dbapi, dialect, done + 1, hi, chunk)
        if prefetch:
            chunks = _prefetched(chunks)
        failed: AggregatedChunk | None = None
        try:
            for got in chunks:
                if done < lo:
                    first_prev = last = got.first_prev
                digest = None if last is None else aggregated_chunk_verifies(got, last)
                if digest is None:
                    failed = got
                    break
                on_chunk(got.hi - done)
                done, last = got.hi, digest
        finally:
            chunks.close()  # the reader is done with `dbapi`
        if failed is None:
            break
        sql = stream_sql(dialect, ranged=True)
        rows = [
            r for part in _rows(dbapi, dialect, sql, (failed.lo, failed.hi), chunk) for r in part
        ]
        if not rows:
            break
        if done < lo:
            first_prev = last = rows[0][1]
        if last is None or not _chunk_verifies(rows, done, last):
            break
        on_chunk(len(rows))
        done += len(rows)
        last = rows[-1][0]
    return SegmentResult(lo, hi, done - lo + 1, first_prev, last)


@dataclass(frozen=True, slots=True)
class _Job:
    """How a forked worker reaches the database, and its range."""

    dialect: str
    connect: tuple[tuple[Any, ...], dict[str, Any]]  # driver connect(*args, **kwargs)
    snapshot: str | None  # PostgreSQL: the exported snapshot to read
    lo: int
    hi: int
    chunk: int


def _open(job: _Job) -> Any:
    args, kwargs = job.connect
    if job.dialect == "sqlite":
        import sqlite3

        dbapi = sqlite3.connect(*args, **kwargs)
        dbapi.isolation_level = None
        dbapi.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        dbapi.execute("BEGIN")  # one read snapshot for the segment
        return dbapi
    import psycopg
    from psycopg import sql as pgsql

    dbapi = psycopg.connect(*args, **kwargs)
    dbapi.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    dbapi.read_only = True
    if job.snapshot is not None:  # must be the transaction's first statement
        dbapi.execute(pgsql.SQL("SET TRANSACTION SNAPSHOT {}").format(job.snapshot))
    for statement in _PG_PLAN:
        dbapi.execute(statement)
    return dbapi


def _work(job: _Job, out: Pipe, counter: Any) -> None:
    """Entry point of a forked worker: verify one segment, counting the positions verified in
    the shared ``counter`` as it goes, and send the :class:`SegmentResult`."""

    def count(verified: int) -> None:
        counter.value += verified

    result: SegmentResult | str
    try:
        dbapi = _open(job)
        try:
            result = verify_segment(dbapi, job.dialect, job.lo, job.hi, job.chunk, on_chunk=count)
        finally:
            dbapi.close()
    except BaseException as exc:  # reported, and the caller verifies this range itself
        result = f"{type(exc).__name__}: {exc}"
    out.send(result)
    out.close()


def split(head: int, workers: int) -> list[tuple[int, int]]:
    """Positions ``1 .. head`` as ``workers`` contiguous ranges of (nearly) equal length."""
    return [(1 + head * k // workers, head * (k + 1) // workers) for k in range(workers)]


def choose_workers(requested: int | None, head: int) -> int:
    if requested is not None:
        if not 1 <= requested <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {requested}")
        return min(requested, max(1, head))
    if head < PARALLEL_MIN_ENTRIES or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def _connect_args(conn: Connection) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    """Arguments for a new driver connection to the same database (None: cannot share it)."""
    if conn.dialect.name == "sqlite":
        files = [r[2] for r in conn.exec_driver_sql("PRAGMA database_list") if r[1] == "main"]
        if not files or not files[0]:
            return None  # in-memory
        # check_same_thread: the segment's reader thread uses it (one thread at a time)
        return (files[0],), {"timeout": 30.0, "check_same_thread": False}
    args, kwargs = conn.dialect.create_connect_args(conn.engine.url)
    return tuple(args), dict(kwargs)


def run_segments(
    conn: Connection, head: int, workers: int, chunk: int, progress: Progress | None = None
) -> list[SegmentResult]:
    """Verify ``1 .. head`` in ``workers`` segments (the first on ``conn``, in this process);
    ``progress`` hears the positions verified so far by all of them, after each chunk of this
    process's segment and then every 0.2 s until the others are done."""
    dialect = conn.dialect.name
    ranges = split(head, workers)
    connect = _connect_args(conn) if workers > 1 else None
    if connect is None:
        ranges = [(1, head)]
    snapshot = None
    if len(ranges) > 1 and dialect == "postgresql":
        snapshot = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
    ctx = multiprocessing.get_context("fork") if len(ranges) > 1 else None
    started: list[tuple[Any, Pipe, tuple[int, int]]] = []
    counters: list[Any] = []
    own = 0

    def report(verified: int = 0) -> None:
        nonlocal own
        own += verified
        if progress is not None:
            progress(own + sum(c.value for c in counters), head)

    try:
        for lo, hi in ranges[1:]:
            assert ctx is not None and connect is not None
            receive, send = ctx.Pipe(duplex=False)
            counter = ctx.RawValue("q", 0)  # written by the worker only
            counters.append(counter)
            job = _Job(dialect, connect, snapshot, lo, hi, chunk)
            process = ctx.Process(
                target=_work, args=(job, send, counter), name="ledger-verify", daemon=True
            )
            process.start()
            send.close()
            started.append((process, receive, (lo, hi)))
        dbapi = conn.connection.driver_connection
        lo, hi = ranges[0]
        results = [verify_segment(dbapi, dialect, lo, hi, chunk, on_chunk=report)]
        for _process, receive, (lo, hi) in started:
            while not receive.poll(0.2):
                report()
            try:
                got = receive.recv()
            except EOFError:  # the worker died
                got = None
            results.append(
                got if isinstance(got, SegmentResult) else SegmentResult(lo, hi, 0, None, None)
            )
        report()
    finally:
        for process, receive, _ in started:
            receive.close()
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    return results


def proven_prefix(results: Sequence[SegmentResult]) -> tuple[int, str]:
    """``(position, hash)`` up to which the segments prove the chain, joins included."""
    pos, head = 0, GENESIS_HASH
    for seg in results:
        if seg.lo != pos + 1 or seg.first_prev != head or seg.last_hash is None:
            break
        pos, head = seg.lo - 1 + seg.verified, seg.last_hash
        if not seg.complete:
            break
    return pos, head


# --- verify -------------------------------------------------------------------------------------


def _replay(conn: Connection, verifier: ChainVerifier, n: int) -> None:
    """Feed the ``n`` rows after the verified head to ``verifier`` (the slow, exact path)."""
    rows: list[Row] = [
        (int(r[0]), int(r[1]), r[2], r[3], r[4])
        for r in conn.execute(text(_ROWS_SQL), {"after": _after(verifier.verified), "n": n})
    ]
    verifier.feed(rows)


def _sequential(
    conn: Connection,
    verifier: ChainVerifier,
    chunk: int,
    progress: Progress | None = None,
    total: int = 0,
) -> None:
    """Verify every seal after ``verifier.verified`` in chain order; stop at the first break.
    ``progress`` hears ``(verifier.verified, total)`` after each chunk."""
    dialect = conn.dialect.name
    dbapi = conn.connection.driver_connection
    sql = stream_sql(dialect, ranged=False)
    chunks = _prefetched(_rows(dbapi, dialect, sql, (_after(verifier.verified),), chunk))
    try:
        for rows in chunks:
            if _chunk_verifies(rows, verifier.verified, verifier.head_hash):
                verifier.verified += len(rows)
                verifier.head_hash = rows[-1][0]
                if progress is not None:
                    progress(verifier.verified, total)
                continue
            chunks.close()  # the reader is done with `conn`
            _replay(conn, verifier, len(rows))  # finds the first break, and what is wrong
            if verifier.broken is not None:
                return
            chunks = _prefetched(_rows(dbapi, dialect, sql, (_after(verifier.verified),), chunk))
    finally:
        chunks.close()


@dataclass(frozen=True, slots=True)
class ChainResult:
    """What :func:`verify_chain` proved: ``verifier`` (positions verified, head hash, first
    break), the highest chain position ``high`` and how many ``workers`` verified segments."""

    verifier: ChainVerifier
    high: int
    workers: int


def verify_chain(
    conn: Connection,
    *,
    chunk: int = DEFAULT_VERIFY_CHUNK,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ChainResult:
    """Recompute the hash chain on ``conn`` (inside its read transaction: one snapshot), the
    fast path first and the exact path for anything it does not prove (module docstring).

    ``workers``: how many segments to verify in parallel (default: 2 on a machine with 2+
    cores once the chain holds :data:`PARALLEL_MIN_ENTRIES`, else 1). ``progress`` hears how
    many positions are verified so far, out of the highest chain position.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    if conn.dialect.name == "postgresql":
        for statement in _PG_PLAN:
            conn.exec_driver_sql(statement)
    s = access_ledger_seal.c
    # two key lookups (no count: the chunks prove every position in between is there), in
    # two statements: SQLite answers a lone min() or max() from the key, both at once by a scan
    low = conn.execute(select(func.min(s.chain_pos))).scalar()
    high = int(conn.execute(select(func.max(s.chain_pos))).scalar() or 0)
    verifier = ChainVerifier()
    used = 1
    if low == 1:  # no position below 1: the fast path covers 1 .. high
        used = choose_workers(workers, high)
        results = run_segments(conn, high, used, chunk, progress)
        used = len(results)
        verifier.verified, verifier.head_hash = proven_prefix(results)
    if verifier.verified < high or (low is not None and low != 1):
        _sequential(conn, verifier, chunk, progress, high)
    if progress is not None:
        progress(verifier.verified, high)
    return ChainResult(verifier, high, used)

"""Benchmark: ledger verify vs raw hashlib SHA-256 over the same bytes, in the same run.

Fills a fresh ledger with N sealed entries, then, for several runs, times

* ``verify(engine)``: stream every sealed row from the database, recompute the chain;
* ``verify(engine, key=…)``: the same, and check the seal MACs with the ledger key (the entries
  are written with their MACs and sealed with the key, ``--seal-batch`` entries per sealing run:
  one seal MAC per run);
* baseline: ``hashlib.sha256(message).hexdigest()`` for the very same N hashed messages, held
  in memory (no database, no chaining logic);

and prints the median rates and the ratios verify / baseline (target ≥ 0.5), with and without
the key. A second baseline
(one streaming hasher over the concatenated bytes, no per-message call) is printed for context.

Usage::

    .venv/bin/python benchmarks/ledger_verify.py --entries 200000
    .venv/bin/python benchmarks/ledger_verify.py --database-url postgresql://postgres@127.0.0.1/x

A ``--database-url`` must name an existing database whose ledger is empty (the ledger cannot be
emptied afterwards: it is append-only); it is migrated first.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text

from jointuse.core.db import make_engine, upgrade
from jointuse.ledger.chain import LedgerEntry, RefusedItem, entry_columns, hash_message
from jointuse.ledger.keys import LedgerKey
from jointuse.ledger.service import seal_all, verify
from jointuse.ledger.tables import access_ledger
from jointuse.ledger.verifying import chunk_messages, read_chunk


def fill(engine: Engine, entries: int, key: LedgerKey, seal_batch: int) -> None:
    with engine.connect() as conn:
        existing = conn.execute(select(func.count()).select_from(access_ledger)).scalar_one()
    if existing:
        raise SystemExit(f"the ledger already holds {existing} entries; use an empty database")
    start = datetime(2024, 4, 1, tzinfo=UTC)
    batch: list[dict[str, str | None]] = []
    for i in range(entries):
        entry = LedgerEntry(
            party=f"R{i % 700:04d}",
            purpose="P1_wheeling" if i % 3 else "P5_negawatt",
            action="read" if i % 5 else "write",
            decision="allowed",
            supply_point_id=f"{i % 10 + 1:02d}{i:020d}",
            customer_id=f"C{i:09d}",
            items_granted=("address", "name", "phone", "retail_contract_number"),
            items_refused=(RefusedItem("baseline", "not needed for the purpose"),),
            rule_id="P1.retailer.own_customer.read",
            request_id=f"req-{i:012d}",
            recorded_at=start + timedelta(milliseconds=37 * i),
        )
        row: dict[str, object] = dict(entry_columns(entry))
        row["seq"] = i + 1  # the MAC covers the seq (empty ledger: seq i + 1)
        row["mac"] = key.entry_mac(i + 1, str(row["entry"]))
        batch.append(row)
        if len(batch) == 20_000:
            with engine.begin() as conn:
                conn.execute(insert(access_ledger), batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(insert(access_ledger), batch)
    seal_all(engine, max_batch=seal_batch, key=key)
    if engine.dialect.name == "postgresql":
        # what autovacuum does to a ledger soon after it is written (visibility map, statistics);
        # without it the first reads of every page also set its hint bits
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE access_ledger, access_ledger_seal")


def messages(engine: Engine, entries: int, chunk: int) -> list[bytes]:
    """The bytes verify hashes, as it reads and builds them, checked against the spec."""
    with engine.connect() as conn:
        dbapi = conn.connection.driver_connection
        built: list[bytes] = []
        for lo in range(1, entries + 1, chunk):
            got = chunk_messages(
                read_chunk(dbapi, engine.dialect.name, lo, min(lo + chunk - 1, entries))
            )
            if got is None:
                raise SystemExit(f"chunk at {lo} does not take verify's aggregated path")
            built += got
        rows = conn.execute(
            text(
                "SELECT s.chain_pos, s.seq, s.prev_hash, l.entry FROM access_ledger_seal s"
                " JOIN access_ledger l ON l.seq = s.seq ORDER BY s.chain_pos"
            )
        ).all()
    spec = [hash_message(pos, seq, prev, entry) for pos, seq, prev, entry in rows]
    if built != spec:
        raise SystemExit("verify's messages differ from the documented hash message")
    return spec


def time_baseline(msgs: list[bytes]) -> float:
    sha256 = hashlib.sha256
    t0 = time.perf_counter()
    for m in msgs:
        sha256(m).hexdigest()
    return time.perf_counter() - t0


def time_stream(msgs: list[bytes]) -> float:
    h = hashlib.sha256()
    t0 = time.perf_counter()
    for m in msgs:
        h.update(m)
    h.hexdigest()
    return time.perf_counter() - t0


def time_verify(
    engine: Engine, entries: int, chunk: int, workers: int | None, key: LedgerKey | None
) -> tuple[float, int]:
    t0 = time.perf_counter()
    result = verify(engine, chunk=chunk, workers=workers, key=key)
    elapsed = time.perf_counter() - t0
    if not result.ok or result.verified != entries:
        raise SystemExit(f"verify did not pass: {result}")
    if key is not None and result.authenticated != entries:
        raise SystemExit(f"verify with the key did not authenticate the chain: {result}")
    return elapsed, result.workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=None, help="default: verify's own choice")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--seal-batch", type=int, default=1000, help="entries per sealing run")
    args = parser.parse_args()
    key = LedgerKey.generate()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        try:
            upgrade(engine)
            t0 = time.perf_counter()
            fill(engine, args.entries, key, args.seal_batch)
            print(f"backend {engine.dialect.name}: filled and sealed {args.entries} entries "
                  f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
            print(f"sealed with the key, {args.seal_batch} entries per sealing run")
            msgs = messages(engine, args.entries, args.chunk)
            total_bytes = sum(len(m) for m in msgs)
            base, stream, ver, ver_key = [], [], [], []
            for _ in range(args.runs):  # interleaved, so machine load hits all alike
                base.append(time_baseline(msgs))
                stream.append(time_stream(msgs))
                elapsed, used = time_verify(engine, args.entries, args.chunk, args.workers, None)
                ver.append(elapsed)
                elapsed, _ = time_verify(engine, args.entries, args.chunk, args.workers, key)
                ver_key.append(elapsed)
        finally:
            engine.dispose()

    n = args.entries
    mb = total_bytes / 1e6
    b, s, v = statistics.median(base), statistics.median(stream), statistics.median(ver)
    vk = statistics.median(ver_key)
    print(f"hashed bytes: {mb:.1f} MB ({total_bytes / n:.0f} bytes per entry), {args.runs} runs")
    print(f"baseline  hashlib sha256 per entry : {n / b:>11,.0f} entries/s  {mb / b:8.1f} MB/s")
    print(f"context   hashlib one stream       : {n / s:>11,.0f} entries/s  {mb / s:8.1f} MB/s")
    print(
        f"verify    ({used} worker(s), db -> chain): {n / v:>11,.0f} entries/s  {mb / v:8.1f} MB/s"
    )
    print(f"verify with the key (seal MACs)    : {n / vk:>11,.0f} entries/s  {mb / vk:8.1f} MB/s")
    print(f"ratio verify / baseline = {b / v:.2f}  (target >= 0.5)")
    print(f"ratio verify with the key / baseline = {b / vk:.2f}; with / without key = {vk / v:.2f}")
    print(f"ratio verify / stream   = {s / v:.2f}")


if __name__ == "__main__":
    main()

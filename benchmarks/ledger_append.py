"""Benchmark: ledger appends and sealing vs a plain insert of the same bytes, in the same run.

On a fresh database (migrated to head) it times, for several runs (interleaved):

* ``append`` one entry per transaction (the request path: ``append`` in a unit of work);
* bulk appends: ``append`` of ``--batch`` entries per transaction;
* ``seal_all`` of what the bulk appends left unsealed;
* baseline: the same canonical JSON texts inserted, the same way (one per transaction, then
  ``--batch`` per transaction), into a scratch table ``bench_plain(id, entry)`` with no index,
  trigger or generated column: what storing those bytes costs on this database at all.

Every ledger measurement is made twice, interleaved in the same run: with **keyed pseudonyms**
(format version 3, as the server writes: the subjects' keys looked up, or made on first use, in
the append's transaction) and **without** (format version 2: the clear IDs, as before
pseudonyms). ``--subjects`` customers and as many points recur (default 2000; ``0``: every
entry a new subject, each append making two keys).

It prints median rates and the ratios ledger / baseline and pseudonyms / clear. The ledger is
written as the server writes it, with the ledger key (each entry's ``seq`` drawn first and its
MAC computed; the sealer checks every MAC and writes the seal MAC); ``--unauthenticated``
measures the same without a key.

Usage::

    .venv/bin/python benchmarks/ledger_append.py [--unauthenticated]
    .venv/bin/python benchmarks/ledger_append.py --database-url postgresql://postgres@127.0.0.1/x

A ``--database-url`` must name an existing, empty database (the ledger cannot be emptied
afterwards: it is append-only); it is migrated first. Drop it afterwards.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from jointuse.core.db import UnitOfWork, make_engine, upgrade
from jointuse.ledger.chain import LedgerEntry, RefusedItem, canonical_entry
from jointuse.ledger.keys import LedgerKey, bind_key
from jointuse.ledger.service import append, seal_all

START = datetime(2024, 4, 1, tzinfo=UTC)


SUBJECTS = 2000


def entry(i: int, version: int = 3) -> LedgerEntry:
    s = i % SUBJECTS if SUBJECTS else i
    return LedgerEntry(
        party=f"R{i % 700:04d}",
        purpose="P1_wheeling" if i % 3 else "P5_negawatt",
        action="read" if i % 5 else "write",
        decision="allowed",
        supply_point_id=f"{s % 10 + 1:02d}{s:020d}",
        customer_id=f"C{s:09d}",
        items_granted=("address", "name", "phone", "retail_contract_number"),
        items_refused=(RefusedItem("baseline", "not needed for the purpose"),),
        rule_id="P1.retailer.own_customer.read",
        request_id=f"req-{i:012d}",
        recorded_at=START + timedelta(milliseconds=37 * i),
        version=version,
    )


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=500, help="one-per-transaction appends")
    parser.add_argument("--bulk", type=int, default=20_000, help="bulk appends per run")
    parser.add_argument("--batch", type=int, default=1000, help="entries per bulk transaction")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--unauthenticated", action="store_true", help="no ledger key")
    parser.add_argument(
        "--subjects", type=int, default=SUBJECTS, help="distinct customers/points (0: all new)"
    )
    args = parser.parse_args()
    globals()["SUBJECTS"] = args.subjects

    counter = iter(range(10**12))

    def entries(n: int, version: int = 3) -> list[LedgerEntry]:
        return [entry(next(counter), version) for _ in range(n)]

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine: Engine = make_engine(url)
        try:
            upgrade(engine)
            if not args.unauthenticated:
                bind_key(engine, LedgerKey.generate())
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE bench_plain (id BIGINT PRIMARY KEY, entry TEXT)"))
            plain_id = iter(range(1, 10**12))

            def ledger_single(batch: list[LedgerEntry]) -> None:
                for e in batch:
                    with UnitOfWork(engine) as u:
                        append(u.connection, e)

            def plain_single(texts: list[str]) -> None:
                for t in texts:
                    with engine.begin() as conn:
                        conn.execute(
                            text("INSERT INTO bench_plain (id, entry) VALUES (:i, :e)"),
                            {"i": next(plain_id), "e": t},
                        )

            def ledger_bulk(batch: list[LedgerEntry]) -> None:
                for k in range(0, len(batch), args.batch):
                    with UnitOfWork(engine) as u:
                        conn = u.connection
                        for e in batch[k : k + args.batch]:
                            append(conn, e)

            def plain_bulk(texts: list[str]) -> None:
                for k in range(0, len(texts), args.batch):
                    with engine.begin() as conn:
                        for t in texts[k : k + args.batch]:
                            conn.execute(
                                text("INSERT INTO bench_plain (id, entry) VALUES (:i, :e)"),
                                {"i": next(plain_id), "e": t},
                            )

            single, single_base, bulk, bulk_base, sealing = [], [], [], [], []
            single_clear, bulk_clear = [], []
            for run in range(args.runs):
                # alternate which of the two goes first (WAL checkpoints, caches)
                pair = (
                    (single_clear, single, bulk_clear, bulk)
                    if run % 2 == 0
                    else (single, single_clear, bulk, bulk_clear)
                )
                few = entries(args.single)
                few_clear = entries(args.single, 2)
                few_texts = [canonical_entry(e) for e in entries(args.single, 2)]
                single_base.append(timed(functools.partial(plain_single, few_texts)))
                first = few_clear if run % 2 == 0 else few
                second = few if run % 2 == 0 else few_clear
                pair[0].append(timed(functools.partial(ledger_single, first)))
                pair[1].append(timed(functools.partial(ledger_single, second)))
                seal_all(engine)
                many = entries(args.bulk)
                many_clear = entries(args.bulk, 2)
                many_texts = [canonical_entry(e) for e in entries(args.bulk, 2)]
                bulk_base.append(timed(functools.partial(plain_bulk, many_texts)))
                first = many_clear if run % 2 == 0 else many
                second = many if run % 2 == 0 else many_clear
                pair[2].append(timed(functools.partial(ledger_bulk, first)))
                pair[3].append(timed(functools.partial(ledger_bulk, second)))
                sealing.append(timed(functools.partial(seal_all, engine)))
        finally:
            engine.dispose()

    s, sb = statistics.median(single), statistics.median(single_base)
    b, bb = statistics.median(bulk), statistics.median(bulk_base)
    sc, bc = statistics.median(single_clear), statistics.median(bulk_clear)
    z = statistics.median(sealing)
    n1, n2 = args.single, args.bulk
    mode = "without a key" if args.unauthenticated else "with the ledger key"
    subjects = f"{args.subjects} recurring subjects" if args.subjects else "every subject new"
    print(f"backend {engine.dialect.name}, {mode}, {subjects}, {args.runs} runs (medians)")
    print(f"append, 1 per transaction : {n1 / s:>9,.0f} /s   plain insert {n1 / sb:>9,.0f} /s")
    print(f"append, {args.batch} per transaction: {n2 / b:>9,.0f} /s   "
          f"plain insert {n2 / bb:>9,.0f} /s   ({1000 * b / n2:.3f} ms/entry)")  # fmt: skip
    print(f"  clear IDs (v2), 1 per tx: {n1 / sc:>9,.0f} /s;  bulk {n2 / bc:>9,.0f} /s   "
          f"({1000 * bc / n2:.3f} ms/entry)")  # fmt: skip
    print(f"seal_all                  : {n2 / z:>9,.0f} /s   ({1000 * z / n2:.3f} ms/entry)")
    print(f"ratio append/plain: 1 per tx {sb / s:.2f}, bulk {bb / b:.2f}; "
          f"ratio seal/plain bulk insert {bb / z:.2f}")  # fmt: skip
    print(f"ratio clear/plain: 1 per tx {sb / sc:.2f}, bulk {bb / bc:.2f}; "
          f"cost of pseudonyms (pseudonyms/clear time): 1 per tx {s / sc:.2f}, "
          f"bulk {b / bc:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark: ``jointuse ledger export`` streaming against a plain scan of the ledger.

Setup (not timed): ``--entries`` ledger entries (default 100,000) of 1,000 customers and 4
parties, appended in batches. Then, alternating over ``--runs`` rounds, timed:

* baseline: one ``SELECT entry FROM access_ledger ORDER BY seq``, each row's JSON parsed and
  written as a JSON line (the least an export can do);
* stream: :func:`jointuse.audit.ledger_search.stream` with no filter (pages of ``--page-size``
  through ``find_entries``, each its own read-only transaction), each record written as the
  export's JSON line;
* filtered: the same with ``party`` and ``decision`` filters (a quarter of the entries).

Printed: entries/s of each and the ratios stream ÷ baseline (target: a small constant factor,
not growing with the ledger) and filtered ÷ stream.

Run::

    .venv/bin/python benchmarks/ledger_export.py                         # SQLite
    .venv/bin/python benchmarks/ledger_export.py --backend postgresql
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import Engine, text

from jointuse.audit import ledger_search as search
from jointuse.core.db import UnitOfWork
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import append
from switching_peak import database

START = datetime(2026, 1, 1, tzinfo=UTC)
PARTIES = ("r-one", "r-two", "tso-03", "dr-one")


def fill(engine: Engine, n: int) -> None:
    for first in range(0, n, 5000):
        with UnitOfWork(engine) as uow:
            for i in range(first, min(n, first + 5000)):
                append(
                    uow.connection,
                    LedgerEntry(
                        party=PARTIES[i % 4],
                        purpose="P1_wheeling",
                        action="read",
                        decision="allowed" if i % 8 else "denied",
                        customer_id=f"c-{i % 1000}",
                        items_granted=("address", "name") if i % 8 else (),
                    ),
                    now=START + timedelta(seconds=i),
                )


def baseline(engine: Engine) -> int:
    out = io.StringIO()
    count = 0
    with engine.connect() as conn:
        for (entry,) in conn.execute(text("SELECT entry FROM access_ledger ORDER BY seq")):
            out.write(json.dumps(json.loads(entry), ensure_ascii=False) + "\n")
            count += 1
    return count


def streamed(engine: Engine, where: search.LedgerFilter, page: int) -> int:
    out = io.StringIO()
    count = 0
    for record in search.stream(engine, where, page_size=page):
        out.write(json.dumps(search.record_row(record), ensure_ascii=False) + "\n")
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=search.DEFAULT_PAGE)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with database(args.backend) as engine:
        fill(engine, args.entries)
        times: dict[str, list[float]] = {"baseline": [], "stream": [], "filtered": []}
        counts: dict[str, int] = {}
        everything = search.LedgerFilter()
        some = search.LedgerFilter(party="r-two", decision="allowed")
        for _ in range(args.runs):
            for name, run in (
                ("baseline", lambda: baseline(engine)),
                ("stream", lambda: streamed(engine, everything, args.page_size)),
                ("filtered", lambda: streamed(engine, some, args.page_size)),
            ):
                started = time.perf_counter()
                counts[name] = run()
                times[name].append(time.perf_counter() - started)
        best = {k: statistics.median(v) for k, v in times.items()}
        print(f"{args.backend}: {args.entries:,} entries, page size {args.page_size}")
        for name, seconds in best.items():
            rate = counts[name] / seconds
            print(f"  {name:<9} {counts[name]:>9,} entries  {seconds:7.2f} s  {rate:>10,.0f}/s")
        print(f"  ratio stream / baseline:   {best['stream'] / best['baseline']:.2f}")
        print(f"  ratio filtered / stream:   {best['filtered'] / best['stream']:.2f}")


if __name__ == "__main__":
    main()

"""Benchmark: the gate's cost of a TSO's contact read (P4) does not grow with the open orders.

Setup (not timed): ``--points`` supply points of one area, each supplied to a customer
(bulk-loaded), and one work order of the area's TSO holding ``--sample`` of them. Then, in one
run, the same ``--reads`` P4 contact reads (``tso_customer_lookup`` in a unit of work each: the
relation query, the contract, the customer, the ledger append) are timed twice:

* in a database with that one order open;
* in a database built the same way plus ``--orders`` more orders (default 10,000) opened on
  other points of the area, each through the work orders' use case;

alternating between the two, so that the machine's drift and noise fall on both alike.

Printed: reads/s and the median per-read time in each state, over ``--runs`` alternating rounds,
and the ratio many ÷ one (target ≈ 1: the relation reads only the orders whose scope holds the
point, by index).

Run::

    .venv/bin/python benchmarks/work_orders.py                         # SQLite
    .venv/bin/python benchmarks/work_orders.py --backend postgresql
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gate_http import INCUMBENT, _template, build_chunk, point_id
from jointuse.assembly import default_gate
from jointuse.core.db import UnitOfWork
from jointuse.customers import service as customers
from jointuse.parties import service as parties
from jointuse.policy.engine import Party
from jointuse.workorders.service import open_order
from switching_peak import database

TSO = Party("tso-03", "tso")
AT = datetime(2025, 3, 3, 3, tzinfo=UTC)


def area_points(n: int) -> list[str]:
    """Indexes whose point lies in area 03 (point_id cycles through the ten areas)."""
    return [point_id(i) for i in range(n) if point_id(i).startswith("03")]


def reads(engine: object, sample: list[str], count: int, seed: int) -> float:
    """Seconds per read, ``count`` random reads of ``sample``."""
    gate = default_gate()
    rng = random.Random(seed)
    started = time.perf_counter()
    for n in range(count):
        with UnitOfWork(engine) as uow:  # type: ignore[arg-type]
            customers.tso_customer_lookup(
                uow,
                gate=gate,
                actor=TSO,
                supply_point_id=rng.choice(sample),
                request_id=f"wo-{seed}-{n}",
                at=AT + timedelta(hours=1),
            )
    return (time.perf_counter() - started) / count


def open_one(engine: object, points: list[str], tag: str) -> None:
    with UnitOfWork(engine) as uow:  # type: ignore[arg-type]
        open_order(
            uow,
            actor=TSO,
            kind="maintenance",
            reason=f"benchmark {tag}",
            starts_at=AT,
            ends_at=AT + timedelta(days=30),
            points=points,
            request_id=f"wo-open-{tag}",
            at=AT,
        )


def setup(engine: object, args: argparse.Namespace, extra_orders: int) -> list[str]:
    """Parties, points, the sample's order and ``extra_orders`` more; the sample."""
    parties.seed_reference_parties(engine, AT - timedelta(days=1))  # type: ignore[arg-type]
    parties.add_party(
        engine,
        code=INCUMBENT,
        kind="retailer",
        name_ja="I",
        name_en="I",
        meti_registration="A0902",
        at=AT - timedelta(days=1),
    )  # type: ignore[arg-type]
    for start in range(0, args.points, 20_000):
        people, contracts, built = build_chunk(
            start, min(20_000, args.points - start), _template("C0")
        )
        customers.bulk_load(engine, people, contracts, built, operator="bench", at=AT)  # type: ignore[arg-type]
    mine = area_points(args.points)
    sample, others = mine[: args.sample], mine[args.sample :]
    if len(others) < extra_orders:
        raise SystemExit(f"--points too few for {extra_orders} orders on other points")
    open_one(engine, sample, "sample")
    for n in range(extra_orders):
        open_one(engine, [others[n]], str(n))
    return sample


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    one: list[float] = []
    many: list[float] = []
    with database(args.backend) as few_db, database(args.backend) as many_db:
        sample = setup(few_db, args, 0)
        setup(many_db, args, args.orders)
        for engine in (few_db, many_db):  # warm-up: statement caches, decision memos
            reads(engine, sample, args.reads, 99)
        for run in range(args.runs):  # alternating (ABBA): drift, noise, order fall on both
            pair = [(few_db, one), (many_db, many)]
            for engine, times in pair if run % 2 == 0 else reversed(pair):
                times.append(reads(engine, sample, args.reads, run))
    a, b = statistics.median(one), statistics.median(many)
    print(
        f"backend {args.backend}: {args.points:,} points, {args.reads:,} reads × {args.runs} runs"
    )
    print(f"  1 open order:        {1 / a:,.0f} reads/s ({a * 1e6:,.0f} µs per read)")
    print(f"  {args.orders + 1:,} open orders: {1 / b:,.0f} reads/s ({b * 1e6:,.0f} µs per read)")
    print(f"  ratio many/one (median of {args.runs} alternating runs): {b / a:.2f} (target ≈ 1)")


if __name__ == "__main__":
    main()

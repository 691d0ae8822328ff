"""Benchmark: complete switches through the service layer vs the same rows as plain bulk inserts.

For ``--switches`` N (default 100,000) supply points, each supplied by an incumbent retailer
(bulk-loaded first, not timed), the benchmark runs every switch through the flows' use cases —
each step one unit of work through the gate, on the ledger, with its transition and inbox
messages, exactly as the API runs them:

1. ``file_switch`` by the new retailer (P1 customer record + P2 廃止取次: 2 gate writes);
2. ``judge_forwarding`` OK by the incumbent (P2 write);
3. ``fix_date`` by the area's TSO (P1 write; the proposed date: lead time, then the point's
   meter-reading day);
4. completion by the clock (``tick`` at a moment past every date: the old contract ends, the new
   one begins, the TSO's P1 write).

Then, in a fresh database of the same backend, it writes **the same number of rows of each
table** the service run wrote (flows, transitions, customers, 廃止取次, contracts — inserted and
updated — ledger entries, inbox messages) with plain ``executemany`` inserts in large batches, one
transaction per table: the floor any implementation pays to store that much. Printed: both rates
(switches/s), the ratio service ÷ bulk (target ≤ 5), and what the measured service rate means for
a March peak day (75,000 switches and 75,000 moves; a move-in or move-out has three steps to a
switch's four, counted as 3/4 of a switch) and a 500,000-switch month. Median of ``--runs`` runs.

Both databases are configured as ``jointuse serve`` configures its own: on SQLite the
write-ahead log is checkpointed by a background thread, not in the writers' commits (until
2026-12-04 the benchmark used SQLite's default, a checkpoint with its ``fsync`` inside every
commit that takes the log past 1,000 pages — a configuration no server runs).

Run::

    .venv/bin/python benchmarks/switching_peak.py --switches 100000 --runs 3           # SQLite
    .venv/bin/python benchmarks/switching_peak.py --backend postgresql --switches 100000

Correctness, checked each run (the script stops on a failure): every flow ends ``completed``,
each point has exactly two contracts (the incumbent's ended on the switching date, the new one
from it), the ledger holds 5 entries per switch, and the chain verifies after sealing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gate_http import INCUMBENT, _template, build_chunk, point_id
from jointuse.assembly import default_gate
from jointuse.core.db import BackgroundCheckpointer, UnitOfWork, make_engine, metadata, upgrade
from jointuse.customers import service as customers
from jointuse.flows.filing import SwitchFiling, file_switch
from jointuse.flows.scheduler import tick
from jointuse.flows.steps import fix_date, judge_forwarding
from jointuse.flows.tables import market_flow
from jointuse.ledger.service import seal_all, verify
from jointuse.messages.tables import party_message
from jointuse.parties import service as parties
from jointuse.policy.engine import Party

NEW = "r-switcher"
N_POINTS = [1]  # the bulk run's number of points (set by run_bulk)
REGISTERED = (market_flow, party_message)  # (importing them registers every table we count)
TABLES = (
    "market_flow",
    "flow_transition",
    "customer",
    "cancellation_forwarding",
    "retail_contract",
    "access_ledger",
    "party_message",
)
TARGET = 5.0
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
console = Console(stderr=True)


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@contextmanager
def database(backend: str) -> Iterator[Engine]:
    """A fresh, migrated database of ``backend``, configured as the API server configures its
    own (SQLite: the write-ahead log checkpointed by a :class:`BackgroundCheckpointer` beside
    the writers, not in their commits); dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/bench.db", background_checkpoints=True)
            upgrade(engine)
            checkpointer = BackgroundCheckpointer(engine)
            checkpointer.start()
            try:
                yield engine
            finally:
                checkpointer.stop()
                engine.dispose()
        return
    name = f"jointuse_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(engine: Engine, n: int, at: datetime) -> None:
    """Parties and ``n`` supplied points (bulk, not timed)."""
    parties.seed_reference_parties(engine, at)
    for code, meti in ((NEW, "A0801"), (INCUMBENT, "A0802")):
        parties.add_party(
            engine,
            code=code,
            kind="retailer",
            name_ja=code,
            name_en=code,
            meti_registration=meti,
            at=at,
        )
    for start in range(0, n, 20_000):
        people, contracts, points = build_chunk(start, min(20_000, n - start), _template("C0"))
        customers.bulk_load(engine, people, contracts, points, operator="bench", at=at)


def run_service(engine: Engine, n: int, at: datetime) -> float:
    """Every switch's four steps through the use cases; seconds taken."""
    gate = default_gate()
    new, old = Party(NEW, "retailer"), Party(INCUMBENT, "retailer")
    flows: list[tuple[str, str, str]] = []  # (flow, forwarding, tso)
    started = time.perf_counter()
    with _bar() as bar:
        task = bar.add_task("file", total=n)
        for i in range(n):
            point = point_id(i)
            with UnitOfWork(engine) as uow:
                filed = file_switch(
                    uow,
                    gate=gate,
                    actor=new,
                    request_id=f"b-{i}",
                    at=at,
                    filing=SwitchFiling(
                        supply_point_id=point,
                        customer=_template(f"S{i:09d}"),
                        new_contract_number=f"SW-{i:010d}",
                        old_contract_number=f"IN-{i:010d}",
                    ),
                )
            flows.append((filed.flow.id, filed.forwarding_id or "", f"tso-{point[:2]}"))
            bar.advance(task)
        task = bar.add_task("judge", total=n)
        for i, (_flow, fw, _tso) in enumerate(flows):
            with UnitOfWork(engine) as uow:
                judge_forwarding(
                    uow,
                    gate=gate,
                    actor=old,
                    forwarding_id=fw,
                    result="ok",
                    reasons=[],
                    request_id=f"j-{i}",
                    at=at + timedelta(hours=1),
                )
            bar.advance(task)
        task = bar.add_task("date", total=n)
        for i, (flow, _fw, tso) in enumerate(flows):
            with UnitOfWork(engine) as uow:
                fix_date(
                    uow,
                    gate=gate,
                    actor=Party(tso, "tso"),
                    flow_id=flow,
                    day=None,
                    request_id=f"d-{i}",
                    at=at + timedelta(hours=2),
                )
            bar.advance(task)
    report = tick(engine, gate=gate, at=at + timedelta(days=60))
    if report.completed != n or report.failed:
        raise SystemExit(f"completion failed: {report.completed} of {n}; {report.failed[:3]}")
    return time.perf_counter() - started


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.execute(select(func.count()).select_from(metadata.tables[t])).scalar_one())
            for t in TABLES
        }


def check(engine: Engine, n: int, before: dict[str, int], after: dict[str, int]) -> None:
    with engine.connect() as conn:
        states = dict(
            conn.execute(text("SELECT state, count(*) FROM market_flow GROUP BY state")).all()
        )
        per_point = conn.execute(
            text(
                "SELECT count(*) FROM retail_contract GROUP BY supply_point_id HAVING count(*) <> 2"
            )
        ).all()
    if states != {"completed": n} or per_point:
        raise SystemExit(
            f"wrong end state: {states}, points without two contracts: {len(per_point)}"
        )
    entries = after["access_ledger"] - before["access_ledger"]
    if entries != 5 * n:
        raise SystemExit(f"ledger: {entries} entries for {n} switches (expected {5 * n})")
    seal_all(engine)
    result = verify(engine)
    if not result.ok:
        raise SystemExit(f"ledger does not verify: {result.broken}")


def _rows(table: str, k: int, i: int) -> dict[str, Any]:
    """A synthetic row of ``table`` (the k-th, of the same shape as the service writes)."""
    now = datetime(2024, 3, 1, tzinfo=UTC)
    flow = f"{k:036d}"
    match table:
        case "market_flow":
            return {
                "id": flow,
                "kind": "switch",
                "state": "completed",
                "supply_point_id": point_id(i),
                "filed_by": NEW,
                "counterpart": INCUMBENT,
                "customer_id": None,
                "contract_number": f"SW-{k:010d}",
                "contract_kind": "standard",
                "wished_date": None,
                "fixed_date": now.date(),
                "meter_work": False,
                "details": "{}",
                "filed_at": now,
                "deadline": None,
                "updated_at": now,
                "closed_at": now,
                "version": 4,
            }
        case "flow_transition":
            return {
                "flow_id": f"{k // 4:036d}",
                "seq": k % 4 + 1,
                "step": "fix_date",
                "from_state": "matched",
                "to_state": "date_fixed",
                "actor": "tso-03",
                "at": now,
                "reason": None,
                "details": "{}",
            }
        case "customer":
            c = _template(f"X{k:09d}")
            return {
                "id": c.customer_id,
                "name": c.name,
                "name_kana": c.name_kana,
                "postal_code": c.address.postal_code.value,
                "prefecture": c.address.prefecture,
                "address_rest": c.address.rest,
                "phone": c.phone.national,
                "membership": c.membership.value,
                "created_by": NEW,
                "created_at": now,
            }
        case "cancellation_forwarding":
            return {
                "id": f"HT{k:012d}",
                "flow_id": flow,
                "old_retailer": INCUMBENT,
                "old_contract_number": f"IN-{k:010d}",
                "name": "山田\u3000太郎",
                "name_kana": "ヤマダ\u3000タロウ",
                "postal_code": "1000001",
                "prefecture": "東京都",
                "address_rest": "千代田区千代田1-1",
                "wished_date": None,
                "forwarded_at": now,
                "closed_at": now,
                "result": "ok",
                "reasons": "[]",
                "match": None,
                "mode": "manual",
                "judged_at": now,
            }
        case "retail_contract":
            year = 2000 + k // N_POINTS[0]  # a point's contracts follow each other
            return {
                "retailer_code": NEW,
                "contract_number": f"X-{k:010d}",
                "kind": "standard",
                "customer_id": f"X{k % N_POINTS[0]:09d}",
                "supply_point_id": point_id(k % N_POINTS[0]),
                "valid_from": datetime(year, 1, 1).date(),
                "valid_to": datetime(year + 1, 1, 1).date(),
            }
        case "party_message":
            return {
                "recipient": INCUMBENT,
                "kind": "flow_completed",
                "subject_ref": f'{{"flow_id":"{flow}","supply_point_id":"{point_id(i)}"}}',
                "body": '{"flow_kind":"switch","state":"completed"}',
                "created_at": now,
                "acked_at": None,
            }
    raise KeyError(table)


def run_bulk(engine: Engine, written: dict[str, int], n: int, at: datetime) -> float:
    """The same rows as plain executemany inserts (ledger entries through the ledger's own
    insert, the cheapest correct one); seconds taken. Customers and contracts first (keys)."""
    from jointuse.ledger.chain import LedgerEntry
    from jointuse.ledger.service import append

    seed_points(engine, n, at)
    N_POINTS[0] = n
    started = time.perf_counter()
    order = (
        "customer",
        "retail_contract",
        "market_flow",
        "flow_transition",
        "cancellation_forwarding",
        "party_message",
    )
    for table in order:
        k = written[table]
        t = metadata.tables[table]
        with engine.begin() as conn:
            for lo in range(0, k, 10_000):
                conn.execute(
                    insert(t), [_rows(table, j, j % n) for j in range(lo, min(k, lo + 10_000))]
                )
    with engine.begin() as conn:
        for j in range(written["access_ledger"]):
            append(
                conn,
                LedgerEntry(
                    party=NEW,
                    purpose="P1_wheeling",
                    action="write",
                    decision="allowed",
                    supply_point_id=point_id(j % n),
                    customer_id=f"X{j:09d}",
                    items_granted=("name",),
                    rule_id="P1-retailer",
                    request_id=f"x-{j}",
                ),
            )
    return time.perf_counter() - started


def seed_points(engine: Engine, n: int, at: datetime) -> None:
    """The bulk run's points (its contracts reference them)."""
    for start in range(0, n, 20_000):
        _people, _contracts, points = build_chunk(start, min(20_000, n - start), _template("C0"))
        customers.bulk_load(engine, [], [], points, operator="bench", at=at)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--switches", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    n = args.switches
    at = datetime(2025, 3, 3, 3, tzinfo=UTC)  # a Monday, after every incumbent contract began
    service_s: list[float] = []
    bulk_s: list[float] = []
    for run in range(1, args.runs + 1):
        with database(args.backend) as engine:
            seed(engine, n, at)
            before = counts(engine)
            service_s.append(run_service(engine, n, at))
            after = counts(engine)
            check(engine, n, before, after)
        # Rows the service wrote (a contract update counted as a row written).
        written = {t: after[t] - before[t] for t in TABLES}
        written["retail_contract"] += n
        with database(args.backend) as bulk_engine:
            bulk_s.append(run_bulk(bulk_engine, written, n, at))
        print(
            f"run {run}: service {n / service_s[-1]:,.0f} switches/s ({service_s[-1]:.1f} s); "
            f"bulk {n / bulk_s[-1]:,.0f} switches/s ({bulk_s[-1]:.1f} s); rows {written}"
        )
    service = statistics.median(service_s)
    bulk = statistics.median(bulk_s)
    rate = n / service
    ratio = service / bulk
    print(f"backend {args.backend}, {n:,} switches, median of {args.runs} runs")
    print(f"  service layer: {rate:,.0f} switches/s")
    print(f"  plain bulk:    {n / bulk:,.0f} switches/s")
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"  ratio service/bulk: {ratio:.2f} (target <= {TARGET}): {verdict}")
    peak = 75_000 + 75_000 * 3 / 4
    print(f"  March peak day (75,000 switches + 75,000 moves): {peak / rate / 60:.1f} min")
    print(f"  500,000-switch month: {500_000 / rate / 60:.1f} min")


if __name__ == "__main__":
    os.environ.setdefault("JOINTUSE_LEDGER_SEAL_BATCH", "5000")
    main()

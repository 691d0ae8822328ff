"""Benchmark: the supply point inquiry over real HTTP, through the gate vs a bare endpoint.

With ``--supply-points`` (default 1,000,000) supply points loaded — each with a customer and a
retail contract of an incumbent retailer, bulk-loaded in chunks through
:func:`jointuse.customers.service.bulk_load` — the benchmark retailer ``r-bench`` files a switch
(through the gate, :func:`jointuse.flows.filing.file_switch`) for ``--applications`` points
(default 10,000), which makes it their ``applicant`` (P3 allowed). Then the real app
(``jointuse.app:create_app``, bench endpoints on) is served by **uvicorn in a subprocess, one
worker**, on a free port of 127.0.0.1, and a bounded client in this process sends, per run and
endpoint, ``--requests`` GETs for random points of that sample over ``--concurrency`` keep-alive
connections:

* **gate** ``GET /v1/supply-points/{id}`` with the retailer's bearer token: authentication,
  policy decision (relations from the registry), read of the row, one ledger append — one
  transaction;
* **bare** ``GET /v1/_bench/bare/supply-points/{id}``: the same row, same response model, no
  authentication, no policy, no ledger.

The server runs with a ledger key (made for the run; with ``--reuse`` kept in the temp dir's
``jointuse-gate-bench/ledger.key``): every gate request draws its entry's ``seq`` and computes
its MAC, as in production. ``--unauthenticated`` runs it without one.

The two alternate (gate, bare, gate, bare, …) over ``--runs`` runs with identical client
settings; printed are requests/s and p50/p99 latency of each run, the medians, and the ratios
gate/bare of median p50 latency and of throughput (bare req/s ÷ gate req/s). Target: ≤ 1.5.

The client is a minimal asyncio HTTP/1.1 keep-alive client (pre-encoded requests, Content-Length
framing), not httpx: on this 2-core machine the client shares the CPU with the server, and a
lighter client takes less of it (identically for both endpoints).

Correctness, checked in the same run (the script stops on a failure):

* a gate response holds exactly the granted items (all sixteen supply-point items for the
  applicant); asked for two items, exactly those two, and its ledger entry grants those two;
* a point the retailer did not apply for is refused (403) and the denial is recorded;
* every timed gate request answered 200 and appended exactly one ledger entry (ledger rows
  counted before and after each run); the bare endpoint appended none.

Databases: SQLite, a file in a temporary folder; PostgreSQL, a throwaway database created on
``--pg-admin-url`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) and dropped at
the end. ``--reuse`` keeps them (SQLite under the temp dir's ``jointuse-gate-bench/``, PostgreSQL
``jointuse_gate_bench_<N>_<A>``) and reuses them when complete. ``--database-url`` runs against
one given database instead (empty, or one this script filled, with ``--reuse``); it is not dropped.

Usage::

    .venv/bin/python benchmarks/gate_http.py --supply-points 100000 --backend sqlite
    .venv/bin/python benchmarks/gate_http.py                 # 1,000,000 points, both backends
    .venv/bin/python benchmarks/gate_http.py --backend postgresql --runs 5 --requests 3000
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from jointuse.assembly import default_gate
from jointuse.core.db import UnitOfWork, make_engine, upgrade
from jointuse.core.ids import SupplyPointId
from jointuse.customers import service as customers
from jointuse.customers.model import (
    SUPPLY_POINT_ITEM_KEYS,
    ContractCapacity,
    Customer,
    MeterInfo,
    RetailContract,
    SupplyPoint,
)
from jointuse.customers.tables import supply_point
from jointuse.flows.dates import reading_codes
from jointuse.flows.filing import SwitchFiling, file_switch
from jointuse.flows.tables import market_flow
from jointuse.ledger.chain import parse_entry
from jointuse.ledger.keys import LedgerKey, bind_key, ensure_key_file
from jointuse.ledger.tables import access_ledger
from jointuse.parties import service as parties
from jointuse.parties.reference import tso_for_area
from jointuse.policy.engine import Party as Actor

GATE = default_gate()

BENCH_RETAILER = "r-bench"
INCUMBENT = "r-incumbent"
AREAS = tuple(f"{n:02d}" for n in range(1, 11))
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 1.5
HOST = "127.0.0.1"


# --- data -----------------------------------------------------------------------------------


def point_id(index: int) -> str:
    """22 digits: an area code (cycling over the ten areas), then the index."""
    return f"{AREAS[index % len(AREAS)]}{index:020d}"


def build_chunk(
    start: int, count: int, template: Customer
) -> tuple[list[Customer], list[RetailContract], list[SupplyPoint]]:
    """Points ``start .. start+count``, each with a customer and an incumbent's contract."""
    capacity = ContractCapacity(Decimal(30), "A")
    points: list[SupplyPoint] = []
    people: list[Customer] = []
    contracts: list[RetailContract] = []
    for i in range(start, start + count):
        pid = SupplyPointId(point_id(i))
        codes = reading_codes(tso_for_area(pid.area_code))
        since = date(2016 + i % 9, 1 + i % 12, 1)
        points.append(
            SupplyPoint(
                supply_point_id=pid,
                supply_area=pid.area_code,
                service_menu="lv_metered_lighting_b",
                supply_method="single_phase_3_wire",
                capacity_determination_method="ampere_breaker",
                contract_state="active",
                contract_capacity=capacity,
                current_limit=30,
                power_factor=100,
                meter_info=MeterInfo(f"M{i:012d}"),
                grid_connected_generation=i % 13 == 0,
                wheeling_change_date=since,
                meter_reading_day=int(codes[i % len(codes)]),  # a 検針日 code of the TSO
            )
        )
        cid = f"C{i:09d}"
        people.append(dataclasses.replace(template, customer_id=cid))
        contracts.append(
            RetailContract(
                contract_number=f"IN-{i:010d}",
                kind="standard",  # type: ignore[arg-type]  # a ContractKind value, checked
                retailer_code=INCUMBENT,
                customer_id=cid,
                supply_point_id=pid,
                valid_from=since,
            )
        )
    return people, contracts, points


def _progress() -> Progress:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=Console(stderr=True))


def _build_job(
    job: tuple[int, int],
) -> tuple[list[Customer], list[RetailContract], list[SupplyPoint]]:
    return build_chunk(job[0], job[1], _template("C0"))


def _template(customer_id: str) -> Customer:
    return Customer.create(
        customer_id=customer_id,
        name="山田 太郎",
        name_kana="ヤマダ タロウ",
        postal_code="100-0001",
        prefecture="東京都",
        address_rest="千代田区千代田1-1",
        phone="090-1234-5678",
        membership="non_member",
    )


def sample_indexes(n: int, applications: int, seed: int) -> list[int]:
    return sorted(random.Random(seed).sample(range(n), min(applications, n)))


@dataclass(frozen=True, slots=True)
class Loaded:
    load_seconds: float
    application_seconds: float
    reused: bool


def fill(engine: Engine, n: int, applications: int, seed: int, chunk: int) -> Loaded:
    """Migrate, register parties, bulk-load ``n`` points, record the sample's applications."""
    at = datetime.now(UTC)
    upgrade(engine)
    parties.seed_reference_parties(engine, at)
    retailers = ((BENCH_RETAILER, "Bench Power", "A0901"), (INCUMBENT, "Incumbent", "A0902"))
    for code, name, meti in retailers:
        parties.add_party(
            engine,
            code=code,
            kind="retailer",
            name_ja=name,
            name_en=name,
            meti_registration=meti,
            at=at,
        )
    started = time.perf_counter()
    jobs = [(start, min(chunk, n - start)) for start in range(0, n, chunk)]
    # One worker process builds (and validates) the next chunks while this one inserts.
    with (
        _progress() as bar,
        ProcessPoolExecutor(1) as pool,
    ):
        task = bar.add_task("supply points", total=n)
        for people, contracts, points in pool.map(_build_job, jobs):
            customers.bulk_load(engine, people, contracts, points, operator="gate-bench", at=at)
            bar.update(task, advance=len(points))
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    actor = Actor(BENCH_RETAILER, "retailer")
    indexes = sample_indexes(n, applications, seed)
    with _progress() as bar:
        task = bar.add_task("applications (gate)", total=len(indexes))
        for lo in range(0, len(indexes), 500):
            with UnitOfWork(engine) as uow:
                for i in indexes[lo : lo + 500]:
                    file_switch(
                        uow,
                        gate=GATE,
                        actor=actor,
                        filing=SwitchFiling(
                            supply_point_id=point_id(i),
                            customer=_template(f"B{i:09d}"),
                            new_contract_number=f"BN-{i:010d}",
                            old_contract_number=f"IN-{i:010d}",
                        ),
                        request_id=f"gate-bench-app-{i}",
                        at=at,
                    )
            bar.update(task, advance=len(indexes[lo : lo + 500]))
    return Loaded(load_seconds, time.perf_counter() - started, reused=False)


def is_complete(engine: Engine, n: int, applications: int) -> bool:
    try:
        with engine.connect() as conn:
            points = conn.execute(select(func.count()).select_from(supply_point)).scalar_one()
            apps = conn.execute(
                select(func.count())
                .select_from(market_flow)
                .where(market_flow.c.filed_by == BENCH_RETAILER)
            ).scalar_one()
    except Exception:  # no tables yet
        return False
    return bool(points == n and apps == min(applications, n))


def sample_points(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(market_flow.c.supply_point_id).where(
                market_flow.c.filed_by == BENCH_RETAILER,
                market_flow.c.closed_at.is_(None),
            )
        ).scalars()
        return sorted(rows)


def ledger_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(access_ledger)).scalar_one())


def last_entry(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        text = conn.execute(
            select(access_ledger.c.entry).order_by(access_ledger.c.seq.desc()).limit(1)
        ).scalar_one()
    entry = parse_entry(text)
    return {"decision": entry.decision, "items_granted": set(entry.items_granted)}


# --- databases ------------------------------------------------------------------------------


@dataclass
class Database:
    backend: str
    url: str
    drop: Any = None  # callable dropping it at the end, or None

    def close(self) -> None:
        if self.drop is not None:
            self.drop()


def _pg_admin(admin_url: str) -> psycopg.Connection[Any]:
    url = make_url(admin_url).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def postgres_database(admin_url: str, name: str, *, keep: bool) -> Database:
    with _pg_admin(admin_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)

    def drop() -> None:
        with _pg_admin(admin_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return Database("postgresql", url.render_as_string(hide_password=False), None if keep else drop)


def open_databases(args: argparse.Namespace, tmp: Path) -> Iterator[Database]:
    tag = f"{args.supply_points}_{args.applications}"
    if args.database_url:
        backend = make_url(args.database_url).get_backend_name()
        yield Database(
            "postgresql" if backend.startswith("postgres") else backend, args.database_url
        )
        return
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        if backend == "sqlite":
            folder = Path(tempfile.gettempdir()) / "jointuse-gate-bench" if args.reuse else tmp
            yield Database("sqlite", f"sqlite:///{folder / f'gate-bench-{tag}.db'}")
        else:
            name = (
                f"jointuse_gate_bench_{tag}" if args.reuse else f"jointuse_gate_bench_{os.getpid()}"
            )
            yield postgres_database(args.pg_admin_url, name, keep=args.reuse)


# --- server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """``uvicorn jointuse.app:create_app --factory``, one worker, in a subprocess."""

    def __init__(self, url: str, key_file: Path | None) -> None:
        self.port = free_port()
        env = dict(os.environ)
        env.update(JOINTUSE_DATABASE_URL=url, JOINTUSE_BENCH_ENDPOINTS="1")
        if key_file is None:
            env.update(JOINTUSE_LEDGER_UNAUTHENTICATED="1")
        else:
            env.update(
                JOINTUSE_LEDGER_KEY_FILE=str(key_file),
                JOINTUSE_LEDGER_CHECKPOINT_FILE=str(key_file.with_suffix(".checkpoints.jsonl")),
            )
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "jointuse.app:create_app", "--factory",
                "--host", HOST, "--port", str(self.port), "--workers", "1",
                "--log-level", "warning", "--no-access-log",
            ],
            env=env,
        )  # fmt: skip

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}")
            try:
                status, _ = asyncio.run(one_request(self.port, get(path)))
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- client ---------------------------------------------------------------------------------


def get(path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def one_request(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        return await _response(reader)
    finally:
        writer.close()


@dataclass(frozen=True, slots=True)
class RunResult:
    requests: int
    seconds: float
    latencies_ms: np.ndarray[Any, np.dtype[np.float64]]
    statuses: Counter[int]
    last_body: bytes

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q))


async def _worker(
    port: int, requests: list[bytes], out: list[float], statuses: Counter[int]
) -> bytes:
    reader, writer = await asyncio.open_connection(HOST, port)
    body = b""
    try:
        for request in requests:
            t0 = time.perf_counter()
            writer.write(request)
            status, body = await _response(reader)
            out.append((time.perf_counter() - t0) * 1000.0)
            statuses[status] += 1
    finally:
        writer.close()
    return body


async def _drive(port: int, requests: list[bytes], concurrency: int) -> RunResult:
    shares = [requests[i::concurrency] for i in range(concurrency)]
    outs: list[list[float]] = [[] for _ in shares]
    statuses: Counter[int] = Counter()
    t0 = time.perf_counter()
    bodies = await asyncio.gather(
        *(_worker(port, share, out, statuses) for share, out in zip(shares, outs, strict=True))
    )
    seconds = time.perf_counter() - t0
    latencies = np.array([x for out in outs for x in out], dtype=np.float64)
    return RunResult(len(requests), seconds, latencies, statuses, bodies[-1])


def drive(port: int, requests: list[bytes], concurrency: int) -> RunResult:
    return asyncio.run(_drive(port, requests, concurrency))


# --- one backend ----------------------------------------------------------------------------


def gate_path(point: str, items: str | None = None) -> str:
    return f"/v1/supply-points/{point}" + (f"?items={items}" if items else "")


def bare_path(point: str) -> str:
    return f"/v1/_bench/bare/supply-points/{point}"


class CheckFailed(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def verify_correctness(
    engine: Engine, port: int, auth: dict[str, str], sample: list[str], n: int
) -> None:
    """The gate grants the applicant its items only, records each decision (see docstring)."""
    point = sample[0]
    before = ledger_rows(engine)
    status, body = asyncio.run(one_request(port, get(gate_path(point), auth)))
    check(status == 200, f"gate inquiry answered {status}: {body[:300]!r}")
    doc = json.loads(body)
    granted = set(doc["access"]["items_granted"])
    check(
        set(doc["items"]) == granted, f"items {sorted(doc['items'])} != granted {sorted(granted)}"
    )
    check(granted == set(SUPPLY_POINT_ITEM_KEYS), f"applicant granted {sorted(granted)}")
    check(ledger_rows(engine) == before + 1, "one gate request must append one ledger entry")

    asked = {"supply_area", "meter_info"}
    status, body = asyncio.run(
        one_request(port, get(gate_path(point, ",".join(sorted(asked))), auth))
    )
    check(status == 200, f"gate inquiry (2 items) answered {status}")
    check(set(json.loads(body)["items"]) == asked, f"asked 2 items, got {body[:300]!r}")
    entry = last_entry(engine)
    check(entry == {"decision": "allowed", "items_granted": asked}, f"ledger entry {entry}")

    taken = set(sample)
    other = next(p for p in (point_id(i) for i in range(n)) if p not in taken)
    before = ledger_rows(engine)
    status, body = asyncio.run(one_request(port, get(gate_path(other), auth)))
    check(status == 403, f"a point without application answered {status}: {body[:300]!r}")
    check(ledger_rows(engine) == before + 1, "the denial must be recorded")
    check(last_entry(engine)["decision"] == "denied", "last ledger entry is not the denial")

    status, body = asyncio.run(one_request(port, get(bare_path(point))))
    check(status == 200 and json.loads(body)["items"] == doc["items"], "bare != gate items")


@dataclass
class BackendReport:
    backend: str
    supply_points: int
    loaded: Loaded
    runs: list[tuple[RunResult, RunResult]]  # (gate, bare)


def bench_backend(db: Database, args: argparse.Namespace) -> BackendReport:
    engine = make_engine(db.url)
    bind_key(engine, None if args.key_file is None else LedgerKey.from_file(args.key_file))
    try:
        n, apps = args.supply_points, args.applications
        if args.reuse and is_complete(engine, n, apps):
            print(f"[{db.backend}] reusing the loaded database", flush=True)
            loaded = Loaded(0.0, 0.0, reused=True)
        else:
            if _migrated(engine) and parties.list_parties(engine):
                raise SystemExit(
                    f"{db.backend}: the database is not empty and not a complete benchmark "
                    "database; give an empty one (or drop it)"
                )
            loaded = fill(engine, n, apps, args.seed, args.chunk_size)
            print(
                f"[{db.backend}] loaded {n:,} supply points (+ customers, contracts) in "
                f"{loaded.load_seconds:.1f} s ({3 * n / loaded.load_seconds:,.0f} rows/s); "
                f"{apps:,} applications through the gate in {loaded.application_seconds:.1f} s",
                flush=True,
            )
        sample = sample_points(engine)
        check(len(sample) == min(apps, n), f"{len(sample)} pending applications")
        token = parties.issue_token(engine, BENCH_RETAILER, label="gate-bench").secret
        auth = {"Authorization": f"Bearer {token}"}
        server = Server(db.url, args.key_file)
        try:
            server.wait_ready(bare_path(sample[0]))
            verify_correctness(engine, server.port, auth, sample, n)
            rng = random.Random(args.seed)
            runs: list[tuple[RunResult, RunResult]] = []

            def requests(count: int) -> tuple[list[bytes], list[bytes]]:
                points = [rng.choice(sample) for _ in range(count)]
                return [get(gate_path(p), auth) for p in points], [
                    get(bare_path(p)) for p in points
                ]

            warm_gate, warm_bare = requests(args.warmup)
            drive(server.port, warm_gate, args.concurrency)
            drive(server.port, warm_bare, args.concurrency)
            for run in range(args.runs):
                gate_requests, bare_requests = requests(args.requests)
                before = ledger_rows(engine)
                gate = drive(server.port, gate_requests, args.concurrency)
                appended = ledger_rows(engine) - before
                check(gate.statuses == Counter({200: args.requests}), f"gate: {gate.statuses}")
                check(
                    appended == args.requests, f"{args.requests} gate requests, {appended} entries"
                )
                check(
                    set(json.loads(gate.last_body)["items"]) == set(SUPPLY_POINT_ITEM_KEYS),
                    "gate response items",
                )
                before = ledger_rows(engine)
                bare = drive(server.port, bare_requests, args.concurrency)
                check(bare.statuses == Counter({200: args.requests}), f"bare: {bare.statuses}")
                check(ledger_rows(engine) == before, "the bare endpoint appended ledger entries")
                runs.append((gate, bare))
                print(
                    f"[{db.backend}] run {run + 1}/{args.runs}: "
                    f"gate {gate.rps:7.0f} req/s p50 {gate.pct(50):6.2f} ms "
                    f"p99 {gate.pct(99):6.2f} ms | bare {bare.rps:7.0f} req/s "
                    f"p50 {bare.pct(50):6.2f} ms p99 {bare.pct(99):6.2f} ms",
                    flush=True,
                )
        finally:
            server.stop()
        return BackendReport(db.backend, n, loaded, runs)
    finally:
        engine.dispose()


def _migrated(engine: Engine) -> bool:
    from sqlalchemy import inspect

    return "party" in inspect(engine).get_table_names()


def summarise(report: BackendReport) -> dict[str, float]:
    med = statistics.median
    gates = [g for g, _ in report.runs]
    bares = [b for _, b in report.runs]
    out = {
        "gate_rps": med(g.rps for g in gates),
        "gate_p50": med(g.pct(50) for g in gates),
        "gate_p99": med(g.pct(99) for g in gates),
        "bare_rps": med(b.rps for b in bares),
        "bare_p50": med(b.pct(50) for b in bares),
        "bare_p99": med(b.pct(99) for b in bares),
    }
    out["ratio_p50"] = out["gate_p50"] / out["bare_p50"]
    out["ratio_rps"] = out["bare_rps"] / out["gate_rps"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--supply-points", type=int, default=1_000_000)
    parser.add_argument("--applications", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000, help="per run and endpoint")
    parser.add_argument("--warmup", type=int, default=300, help="per endpoint, untimed")
    parser.add_argument("--concurrency", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--database-url", help="one given database instead (not dropped)")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--reuse", action="store_true", help="keep and reuse loaded databases")
    parser.add_argument("--chunk-size", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20160401)
    parser.add_argument(
        "--unauthenticated", action="store_true", help="run the server without a ledger key"
    )
    args = parser.parse_args(argv)
    for name in ("supply_points", "applications", "runs", "requests", "concurrency", "chunk_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    print(
        f"gate vs bare over HTTP: {args.supply_points:,} supply points, "
        f"{args.applications:,} applied for; uvicorn 1 worker; client {args.concurrency} "
        f"connections, {args.requests} requests/run/endpoint, {args.runs} runs "
        f"(run {uuid.uuid4().hex[:8]})",
        flush=True,
    )
    reports: list[BackendReport] = []
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        # the ledger key the server (and the loading) writes with; kept with --reuse, since a
        # reused ledger is authenticated with it
        keys = Path(tempfile.gettempdir()) / "jointuse-gate-bench" if args.reuse else Path(tmp)
        args.key_file = None if args.unauthenticated else keys / "ledger.key"
        if args.key_file is not None:
            ensure_key_file(args.key_file)
        print("ledger key:", args.key_file or "none (--unauthenticated)", flush=True)
        for db in open_databases(args, Path(tmp)):
            try:
                reports.append(bench_backend(db, args))
            finally:
                db.close()
    print()
    print(
        f"{'backend':<11}{'gate req/s':>11}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'bare req/s':>12}{'p50 ms':>8}{'p99 ms':>8}{'p50 ×':>8}{'req/s ×':>9}  target ≤ "
        f"{TARGET_RATIO}"
    )
    worst = 0.0
    for report in reports:
        s = summarise(report)
        worst = max(worst, s["ratio_p50"], s["ratio_rps"])
        print(
            f"{report.backend:<11}{s['gate_rps']:>11.0f}{s['gate_p50']:>8.2f}{s['gate_p99']:>8.2f}"
            f"{s['bare_rps']:>12.0f}{s['bare_p50']:>8.2f}{s['bare_p99']:>8.2f}"
            f"{s['ratio_p50']:>8.2f}{s['ratio_rps']:>9.2f}  "
            f"{'met' if max(s['ratio_p50'], s['ratio_rps']) <= TARGET_RATIO else 'NOT met'}"
        )
    print("(medians of the runs; × = gate/bare p50 latency and bare/gate throughput)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

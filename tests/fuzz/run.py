"""The long seeded fuzzing run: ``.venv/bin/python tests/fuzz/run.py [--examples 1500]
[--seed 12] [--backend sqlite|postgresql|both] [--json FILE]``.

For each backend a fresh migrated database (SQLite: a temporary file; PostgreSQL: a throwaway
database on 127.0.0.1:5432, or ``JOINTUSE_TEST_POSTGRES``, dropped afterwards), the seeded world
and ``--examples`` generated requests per operation (:mod:`harness`; 1,500 × 31 operations
≈ 40,000 requests per backend, hypothesis stopping early where inputs run out). Prints the
statuses per operation and every 5xx; exits 1 when there was any.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Report, fuzz, fuzz_app

from jointuse.core.db import make_engine, upgrade

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


def _run(url: str, examples: int, seed_value: int) -> Report:
    engine = make_engine(url)
    try:
        upgrade(engine)
        done = [0]
        started = time.monotonic()

        def tick() -> None:
            done[0] += 1
            if done[0] % 2000 == 0:
                rate = done[0] / (time.monotonic() - started)
                print(f"  {done[0]:,} requests ({rate:,.0f}/s)", flush=True)

        with fuzz_app(engine) as world:
            return fuzz(world, examples=examples, seed_value=seed_value, on_request=tick)
    finally:
        engine.dispose()


def run_sqlite(examples: int, seed_value: int) -> Report:
    with tempfile.TemporaryDirectory() as tmp:
        return _run(f"sqlite:///{tmp}/fuzz.db", examples, seed_value)


def run_postgresql(examples: int, seed_value: int) -> Report:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    dsn = os.environ.get("JOINTUSE_TEST_POSTGRES") or PG_ADMIN
    params = conninfo_to_dict(dsn)
    name = f"jointuse_fuzz_{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        try:
            user = params.get("user", "postgres")
            host = params.get("host", "127.0.0.1")
            port = params.get("port", 5432)
            url = f"postgresql+psycopg://{user}@{host}:{port}/{name}"
            return _run(url, examples, seed_value)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def summary(backend: str, report: Report, seconds: float) -> dict[str, Any]:
    kinds = Counter(
        (e["operation"].split("?")[0][:60], e["status"], e.get("cause", "?"))
        for e in report.server_errors
    )
    print(f"\n== {backend}: {report.requests:,} requests in {seconds:.0f} s")
    for operation, statuses in sorted(report.statuses.items()):
        listed = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))
        print(f"  {operation:55} {listed}")
    print(f"  5xx: {len(report.server_errors)}")
    for (method, status, body), n in kinds.most_common():
        print(f"    {n:5} × {status} {method} {body}")
    return {
        "backend": backend,
        "requests": report.requests,
        "seconds": round(seconds, 1),
        "statuses": {k: dict(v) for k, v in report.statuses.items()},
        "server_errors": report.server_errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import logging

    # Every generated 401 is a line on the security log: keep the output to the report.
    logging.getLogger("jointuse.security").setLevel(logging.ERROR)
    # 500s are listed by the report (their tracebacks would drown it).
    logging.getLogger("jointuse.core.http").propagate = False
    runners = {"sqlite": run_sqlite, "postgresql": run_postgresql}
    chosen = list(runners) if args.backend == "both" else [args.backend]
    results = []
    for backend in chosen:
        print(f"{backend}: {args.examples} examples per operation, seed {args.seed}", flush=True)
        started = time.monotonic()
        report = runners[backend](args.examples, args.seed)
        results.append(summary(backend, report, time.monotonic() - started))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return 1 if any(r["server_errors"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())

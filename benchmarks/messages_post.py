"""Benchmark: posting inbox messages (``jointuse.messages.service``) vs plain inserts of the rows.

What a flow step pays to tell its parties: ``post_many`` checks each message (recipient, kind,
no personal-data keys at any depth, body size), serialises references and body to JSON and
inserts the rows in one statement. The baseline inserts **the same rows, already serialised**,
with a plain ``conn.execute(insert(party_message), rows)`` of the same sizes: the floor. Three
measurements, each the median of ``--runs`` runs, in one database per backend (the table emptied
between runs; service and baseline alternate):

1. ``per step``: ``--messages`` N messages in calls of ``--per-call`` (default 3: a 廃止取次's
   judgement tells three parties), as the flows call it — ratio ``post_many`` ÷ plain;
2. ``bulk``: the same N in calls of 1,000 (the bulk variant) — ratio ``post_many`` ÷ plain;
3. ``index``: plain inserts into ``party_message`` as migrated vs the same table without the
   webhook's partial index ``ix_party_message_unpushed`` (added by ``0051_webhooks``) — what
   that index costs every message.

Calls run in transactions of 1,000 calls (the transaction's own cost is the flows', not the
inbox's). Run::

    .venv/bin/python benchmarks/messages_post.py --backend both --messages 100000 --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, text

from jointuse.core.db import make_engine, upgrade
from jointuse.messages.service import post_many
from jointuse.messages.tables import party_message

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AT = datetime(2025, 3, 31, 9, tzinfo=UTC)
TX_CALLS = 1000


@contextmanager
def database(backend: str) -> Iterator[Engine]:
    """A fresh, migrated database of ``backend``; dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/bench.db")
            upgrade(engine)
            try:
                yield engine
            finally:
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


def messages(n: int) -> list[dict[str, Any]]:
    """N messages as a flow writes them: three kinds of recipient, a flow and a point each."""
    recipients = ("r-new", "r-old", "tso-03")
    return [
        {
            "recipient": recipients[i % 3],
            "kind": "forwarding_judged",
            "subject_ref": {"flow_id": f"SW{i:012d}", "supply_point_id": f"03{i:020d}"},
            "body": {"flow_kind": "switch", "state": "matched"},
        }
        for i in range(n)
    ]


def plain_rows(msgs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows ``post_many`` writes, serialised beforehand (the baseline's input)."""
    return [
        {
            "recipient": m["recipient"],
            "kind": m["kind"],
            "subject_ref": json.dumps(m["subject_ref"], sort_keys=True, separators=(",", ":")),
            "body": json.dumps(
                m["body"], ensure_ascii=False, sort_keys=True, separators=(",", ":")
            ),
            "created_at": AT,
            "acked_at": None,
        }
        for m in msgs
    ]


def timed(engine: Engine, items: Sequence[Any], size: int, call: Callable[..., Any]) -> float:
    """Seconds to run ``call(conn, chunk)`` over ``items`` in chunks of ``size``."""
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    started = time.perf_counter()
    for t in range(0, len(chunks), TX_CALLS):
        with engine.begin() as conn:
            for chunk in chunks[t : t + TX_CALLS]:
                call(conn, chunk)
    return time.perf_counter() - started


def empty(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(party_message))


def service(conn: Connection, chunk: Sequence[dict[str, Any]]) -> None:
    post_many(conn, chunk, at=AT)


def plain(conn: Connection, chunk: Sequence[dict[str, Any]]) -> None:
    conn.execute(insert(party_message), list(chunk))


def compare(
    engine: Engine, runs: int, a: Callable[[], float], b: Callable[[], float]
) -> tuple[float, float]:
    """Medians of ``a`` and ``b`` over ``runs`` runs, alternating which goes first."""
    ta: list[float] = []
    tb: list[float] = []
    for r in range(runs):
        order = [(a, ta), (b, tb)] if r % 2 == 0 else [(b, tb), (a, ta)]
        for fn, out in order:
            empty(engine)
            out.append(fn())
    return statistics.median(ta), statistics.median(tb)


def run(backend: str, n: int, per_call: int, runs: int) -> None:
    msgs = messages(n)
    rows = plain_rows(msgs)
    with database(backend) as engine:
        print(f"\n{backend}: {n:,} messages, median of {runs} runs")
        for label, size in ((f"per step ({per_call}/call)", per_call), ("bulk (1000/call)", 1000)):
            s, p = compare(
                engine,
                runs,
                lambda size=size: timed(engine, msgs, size, service),
                lambda size=size: timed(engine, rows, size, plain),
            )
            print(
                f"  {label:<22} post_many {n / s:>10,.0f} msg/s  plain {n / p:>10,.0f} msg/s"
                f"  ratio {s / p:.2f}x  ({s / n * 1e6:.1f} µs vs {p / n * 1e6:.1f} µs a message)"
            )
    with database(backend) as indexed, database(backend) as bare:
        with bare.begin() as conn:
            conn.execute(text("DROP INDEX ix_party_message_unpushed"))
        times: dict[Engine, list[float]] = {indexed: [], bare: []}
        for r in range(runs):
            for engine in (indexed, bare) if r % 2 == 0 else (bare, indexed):
                empty(engine)
                times[engine].append(timed(engine, rows, 1000, plain))
    i, b = statistics.median(times[indexed]), statistics.median(times[bare])
    print(
        f"  index ix_party_message_unpushed: with {n / i:,.0f} msg/s, without {n / b:,.0f} msg/s"
        f"  ratio {i / b:.2f}x"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--per-call", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        run(backend, args.messages, args.per_call, args.runs)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""The unit of work on the gate's hot path: SQLite writers of one process queue on an in-process
lock instead of sleeping in SQLite's busy handler (gate requests from many threads all commit their
entries), and its connection is kept per transaction."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from jointuse.core.db import UnitOfWork, read_only, writer_queue
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import append
from jointuse.ledger.tables import access_ledger


def _held_elsewhere(engine: Engine) -> bool:
    """Whether another thread holds the engine's writer queue right now (no waiting)."""
    out: list[bool] = []

    def probe() -> None:
        lock = writer_queue(engine)
        got = lock.acquire(blocking=False)
        if got:
            lock.release()
        out.append(not got)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return out[0]


def test_a_writing_unit_of_work_holds_the_queue_until_it_ends(engine: Engine) -> None:
    sqlite = engine.dialect.name == "sqlite"
    assert not _held_elsewhere(engine)
    with UnitOfWork(engine):
        assert _held_elsewhere(engine) is sqlite
        with UnitOfWork(engine, read_only=True):  # readers never queue (nor deadlock here)
            assert _held_elsewhere(engine) is sqlite
    assert not _held_elsewhere(engine)
    with pytest.raises(RuntimeError, match="boom"), UnitOfWork(engine):
        raise RuntimeError("boom")
    assert not _held_elsewhere(engine)  # released on rollback too
    with UnitOfWork(engine, read_only=True):
        assert not _held_elsewhere(engine)
    # The engine with other execution options shares the pool, hence the queue.
    assert writer_queue(read_only(engine)) is writer_queue(engine)


def test_concurrent_writers_all_commit(engine: Engine) -> None:
    def write(n: int) -> None:
        entry = LedgerEntry(
            party="r-x",
            purpose="P3_supply_point_confirmation",
            action="read",
            decision="allowed",
            items_granted=("supply_area",),
            rule_id="P3-retailer",
            request_id=f"q-{n}",
        )
        with UnitOfWork(engine) as uow:
            append(uow.session, entry, now=datetime(2024, 6, 1, tzinfo=UTC))

    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(access_ledger)).scalar_one()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(40)))
    with engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(access_ledger)).scalar_one()
    assert after == before + 40


def test_connection_is_kept_per_transaction_of_the_unit_of_work(engine: Engine) -> None:
    count = select(func.count()).select_from(access_ledger)
    with UnitOfWork(engine) as uow:
        first = uow.connection
        assert uow.connection is first and first.in_transaction()
        uow.session.rollback()  # as the gate does before committing a denial alone
        again = uow.connection  # a live connection of the session's new transaction
        assert not again.closed and again.in_transaction()
        assert again.execute(count).scalar_one() >= 0
        uow.session.commit()
        assert uow.connection.execute(count).scalar_one() >= 0


def test_the_sealer_takes_its_turn_in_the_queue_of_writers(engine: Engine) -> None:
    """On SQLite the ledger's sealer waits for the writer queue (it is woken when the writer
    before it ends, instead of polling SQLite's write lock); on PostgreSQL it does not queue."""
    from jointuse.ledger.service import seal

    sealed = threading.Event()

    def run_seal() -> None:
        seal(engine)
        sealed.set()

    lock = writer_queue(engine)
    lock.acquire()
    try:
        t = threading.Thread(target=run_seal)
        t.start()
        # SQLite: it cannot finish while the queue is held; PostgreSQL: it does not wait for it.
        finished_while_held = sealed.wait(0.3 if engine.dialect.name == "sqlite" else 30)
    finally:
        lock.release()
    t.join(30)
    assert sealed.is_set()
    assert finished_while_held is (engine.dialect.name != "sqlite")

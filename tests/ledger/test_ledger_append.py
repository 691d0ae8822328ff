"""Appending in the caller's transaction, sealing, concurrency — on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, func, select, text

from jointuse.core.db import UnitOfWork
from jointuse.ledger import (
    GENESIS_HASH,
    BackgroundSealer,
    LedgerEntry,
    RefusedItem,
    append,
    find_entries,
    seal,
    seal_all,
    verify,
)
from jointuse.ledger.chain import is_pseudonym
from jointuse.ledger.tables import access_ledger


def _entry(i: int = 0, **changes: object) -> LedgerEntry:
    fields: dict[str, object] = {
        "party": "R0001",
        "purpose": "P3_supply_point_confirmation",
        "action": "read",
        "decision": "allowed",
        "supply_point_id": f"03{i:020d}",
        "customer_id": f"C-{i}",
        "items_granted": ("supply_area", "supply_point_id"),
        "request_id": f"req-{i}",
    }
    fields.update(changes)
    return LedgerEntry(**fields)  # type: ignore[arg-type]


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(access_ledger)).scalar_one())


def test_committed_append_leaves_an_unsealed_entry(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    with uow() as u:
        seq = append(u.session, _entry(1))
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT seq, chain_pos, prev_hash, hash, party, purpose, supply_point_id,"
                " decision FROM access_ledger_chain"
            )
        ).one()
    assert tuple(row) == (
        seq,
        None,
        None,
        None,
        "R0001",
        "P3_supply_point_confirmation",
        row[6],
        "allowed",
    )
    assert is_pseudonym(row[6])  # not the point's ID: a keyed pseudonym (version 3)


def test_rolled_back_transaction_leaves_no_entry(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), uow() as u:
        append(u.connection, _entry(1))
        raise Boom
    assert _count(engine) == 0
    assert seal_all(engine).sealed == 0


def test_sealing_chains_entries_in_order(engine: Engine, uow: Callable[..., UnitOfWork]) -> None:
    seqs = []
    for i in range(5):
        with uow() as u:
            seqs.append(append(u.session, _entry(i)))
    first = seal(engine, max_batch=2)
    assert (first.sealed, first.head_pos) == (2, 2)
    rest = seal_all(engine, max_batch=2)
    assert (rest.sealed, rest.head_pos) == (3, 5)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT chain_pos, seq, prev_hash, hash, entry FROM access_ledger_chain"
                " ORDER BY seq"
            )
        ).all()
    prev = GENESIS_HASH
    for pos, (chain_pos, seq, prev_hash, digest, entry) in enumerate(rows, start=1):
        assert (chain_pos, seq, prev_hash) == (pos, seqs[pos - 1], prev)
        assert digest == hashlib.sha256(f"{pos}\n{seq}\n{prev}\n{entry}".encode()).hexdigest()
        prev = digest
    assert rest.head_hash == prev
    result = verify(engine)
    assert result.ok and result.verified == 5 and result.unsealed == 0


def test_find_entries_returns_the_records_of_a_customer(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    with uow() as u:
        append(u.session, _entry(1))
        append(
            u.session,
            _entry(
                2,
                decision="denied",
                items_granted=(),
                items_refused=(RefusedItem("name", "no relation to the point"),),
            ),
        )
        append(u.session, _entry(2, party="T03"))
    seal_all(engine)
    with uow(read_only=True) as u:
        records = find_entries(u.session, customer_id="C-2")
        by_party = find_entries(u.session, customer_id="C-2", party="T03")
    assert [r.entry.party for r in records] == ["T03", "R0001"]
    assert records[1].entry.decision == "denied"
    assert records[1].entry.items_refused == (RefusedItem("name", "no relation to the point"),)
    assert all(r.chain_pos is not None and r.hash is not None for r in records)
    assert len(by_party) == 1


def test_concurrent_appends_and_sealing_keep_the_chain_whole(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    threads, per_thread = 4, 15
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(per_thread):
                with uow() as u:
                    append(u.session, _entry(t * 100 + i))
        except BaseException as exc:
            errors.append(exc)

    with BackgroundSealer(engine, interval=0.01, max_batch=7) as sealer:
        workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert errors == []
    assert sealer.failures == 0
    result = verify(engine)
    assert result.ok, result
    assert (result.verified, result.unsealed) == (threads * per_thread, 0)
    with engine.connect() as conn:
        positions = conn.execute(
            text("SELECT chain_pos FROM access_ledger_seal ORDER BY chain_pos")
        )
        assert [p for (p,) in positions] == list(range(1, threads * per_thread + 1))


def test_non_ascii_text_is_stored_escaped_and_read_back(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    refused = (RefusedItem("baseline", "ネガワット情報は目的外"),)
    with uow() as u:
        append(u.session, _entry(1, party="小売R1", items_refused=refused))
    seal_all(engine)
    with uow(read_only=True) as u:
        (record,) = find_entries(u.session, party="小売R1")
    assert record.entry.items_refused == refused
    assert verify(engine).ok


def test_an_entry_committed_after_a_later_one_was_sealed_is_sealed_next(
    engine: Engine, uow: Callable[..., UnitOfWork], backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite writers are serialised: a lower seq cannot commit late")
    from jointuse.ledger.service import _floor_of

    with engine.connect() as slow:
        with slow.begin():
            early = append(slow, _entry(1))  # draws the lower seq, commits last
            with uow() as u:
                late = append(u.session, _entry(2))
            assert early < late
            assert (seal_all(engine).sealed, _floor_of(engine).floor) == (1, 0)
            assert seal_all(engine).sealed == 0 and _floor_of(engine).floor == 0
        assert seal_all(engine).sealed == 1  # the floor stayed below `early`
    assert _floor_of(engine).floor >= late  # its writer has ended: the floor moves up
    with uow() as u:
        append(u.session, _entry(3))
    assert seal_all(engine).sealed == 1
    with engine.connect() as conn:
        order = conn.execute(text("SELECT seq FROM access_ledger_seal ORDER BY chain_pos")).all()
    assert [s for (s,) in order] == [late, early, late + 1]
    result = verify(engine)
    assert result.ok and (result.verified, result.unsealed) == (3, 0)

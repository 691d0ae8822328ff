"""Keyed pseudonyms and crypto-shredding (format version 3), on SQLite and PostgreSQL: entries
name subjects by HMAC under per-subject keys; destroying a key erases the subject without
breaking the chain; entries from before pseudonyms keep verifying and are hidden on erasure."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from ledger_tamper import tamper
from sqlalchemy import Engine, func, select, text

from jointuse.core.db import UnitOfWork, make_engine, upgrade
from jointuse.core.errors import ValidationError
from jointuse.ledger import LedgerEntry, LedgerKey, append, bind_key, find_entries, seal_all
from jointuse.ledger.auditing import verify
from jointuse.ledger.chain import canonical_entry, is_pseudonym, parse_entry
from jointuse.ledger.pseudonyms import (
    CUSTOMER,
    SUPPLY_POINT,
    derive,
    pseudonyms_of,
    shred,
)
from jointuse.ledger.tables import access_ledger, ledger_subject_key

P = "0312345678901234567890"
Q = "0399999999999999999999"


def _entry(customer: str | None, point: str | None, at: datetime, **changes: object) -> LedgerEntry:
    fields: dict[str, object] = {
        "party": "tso-03",
        "purpose": "P4_tso_operations",
        "action": "read",
        "decision": "allowed",
        "customer_id": customer,
        "supply_point_id": point,
        "items_granted": ("name",),
        "request_id": f"req-{at:%Y%m}",
        "recorded_at": at,
    }
    fields.update(changes)
    return LedgerEntry(**fields)  # type: ignore[arg-type]


def _at(year: int, month: int) -> datetime:
    return datetime(year, month, 15, 3, tzinfo=UTC)


def _keys(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ledger_subject_key)).scalar_one())


def _texts(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(access_ledger.c.entry).order_by(access_ledger.c.seq)).scalars()
        )


@pytest.mark.parametrize("version", [3, 4])
def test_versions_3_and_4_refuse_clear_ids_and_round_trip_pseudonyms(version: int) -> None:
    entry = dataclasses.replace(_entry("C-1", P, _at(2024, 4)), version=version)
    with pytest.raises(ValidationError) as info:
        canonical_entry(entry)
    assert info.value.field == "customer_id"
    named = entry.with_subjects("ps:" + "a" * 32, "ps:" + "b" * 32)
    text_ = canonical_entry(named)
    assert json.loads(text_)["v"] == version
    assert canonical_entry(parse_entry(text_)) == text_
    assert derive("00" * 32, CUSTOMER, "C-1", "") == derive("00" * 32, CUSTOMER, "C-1", "")
    assert derive("00" * 32, CUSTOMER, "C-1", "") != derive("11" * 32, CUSTOMER, "C-1", "")
    assert is_pseudonym(derive("00" * 32, SUPPLY_POINT, P, "2024-04"))


def test_no_clear_id_is_stored_and_keys_roll_back_with_the_entry(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    with pytest.raises(RuntimeError), uow() as u:
        append(u.connection, _entry("C-1", P, _at(2024, 4)))
        raise RuntimeError("the use case fails")
    assert _keys(engine) == 0 and _texts(engine) == []
    with uow() as u:
        append(u.connection, _entry("C-1", P, _at(2024, 4)))
        append(u.connection, _entry("C-1", P, _at(2024, 4), request_id="again"))
    (first, second) = _texts(engine)
    assert "C-1" not in first and P not in first
    a, b = json.loads(first), json.loads(second)
    assert a["customer_id"] == b["customer_id"] and is_pseudonym(a["customer_id"])
    assert _keys(engine) == 2  # one customer key, one key for the point's month
    with uow(read_only=True) as u:
        (r1, _r2) = find_entries(u.connection, customer_id="C-1")
        assert (r1.entry.customer_id, r1.entry.supply_point_id) == ("C-1", P)  # revealed
        assert r1.customer_ref == a["customer_id"]
        assert pseudonyms_of(u.connection, CUSTOMER, "C-1") == [a["customer_id"]]


def test_shredding_a_customer_keeps_the_chain_and_finds_nothing(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    key = LedgerKey.generate()
    bind_key(engine, key)
    try:
        with uow() as u:
            for month in (4, 5):
                append(u.connection, _entry("C-1", P, _at(2024, month)))
                append(u.connection, _entry("C-2", Q, _at(2024, month)))
        seal_all(engine)
        before = _texts(engine)
        with uow() as u:
            result = shred(u.connection, CUSTOMER, "C-1")
            # the point's months of C-1's tenure (April to May 2024), not June's
            point = shred(
                u.connection, SUPPLY_POINT, P, since=date(2024, 4, 1), until=date(2024, 6, 1)
            )
        assert (result.keys, result.legacy_entries) == (1, 0)
        assert (point.keys, point.legacy_entries) == (2, 0)
        assert _texts(engine) == before  # nothing rewritten
        verified = verify(engine, key=key)
        assert verified.ok and verified.verified == 4 and not verified.auth_problems
        with uow(read_only=True) as u:
            assert find_entries(u.connection, customer_id="C-1") == []
            assert find_entries(u.connection, supply_point_id=P) == []
            others = find_entries(u.connection, customer_id="C-2")
            assert [(r.entry.customer_id, r.entry.supply_point_id) for r in others] == [
                ("C-2", Q),
                ("C-2", Q),
            ]
            # C-1's entries are still there, naming nobody that can be looked up
            gone = [r for r in find_entries(u.connection, party="tso-03") if r not in others]
            assert len(gone) == 2
            assert all(is_pseudonym(r.entry.customer_id) for r in gone)
            assert all(is_pseudonym(r.entry.supply_point_id) for r in gone)
        # a later use of C-1 gets a new key: the old entries stay unlinkable to it
        with uow() as u:
            append(u.connection, _entry("C-1", None, _at(2025, 1)))
        with uow(read_only=True) as u:
            (again,) = find_entries(u.connection, customer_id="C-1")
            assert again.customer_ref not in {r.customer_ref for r in gone}
    finally:
        bind_key(engine, None)


def test_a_point_keeps_the_months_of_other_occupants(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    with uow() as u:
        for month in (1, 2, 3, 4):
            append(u.connection, _entry(None, P, _at(2024, month)))
    with uow() as u:  # the tenure 2024-01-10 .. 2024-03-20: only February lies wholly inside
        r = shred(u.connection, SUPPLY_POINT, P, since=date(2024, 1, 10), until=date(2024, 3, 20))
    assert r.keys == 1
    with uow(read_only=True) as u:
        months = sorted(
            e.entry.recorded_at.month
            for e in find_entries(u.connection, supply_point_id=P)
            if e.entry.recorded_at
        )
    assert months == [1, 3, 4]


def test_editing_a_pseudonym_is_caught_by_verify(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    with uow() as u:
        for month in (4, 5, 6):
            append(u.connection, _entry("C-1", P, _at(2024, month)))
    seal_all(engine)
    other = "ps:" + "0" * 32
    tamper(
        engine,
        "UPDATE access_ledger SET entry = replace(entry, customer_id, '" + other + "'),"
        " customer_id = '" + other + "' WHERE seq = 2",
    )
    result = verify(engine)
    assert not result.ok and result.broken is not None and result.broken.chain_pos == 2


def test_entries_from_before_the_migration_verify_and_are_hidden_on_erasure(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    key = LedgerKey.generate()
    bind_key(engine, key)
    try:
        upgrade(engine, "0020_ledger_auth")
        with UnitOfWork(engine) as u:  # what the code before 0120 wrote: version 2, clear IDs
            for month in (4, 5):
                append(u.connection, _entry("C-1", P, _at(2023, month), version=2))
                append(u.connection, _entry("C-2", Q, _at(2023, month), version=2))
        seal_all(engine)
        before = _texts(engine)
        upgrade(engine)  # to head: 0120_pseudonyms
        assert _texts(engine) == before
        assert verify(engine, key=key).ok
        with UnitOfWork(engine) as u:
            append(u.connection, _entry("C-1", P, _at(2024, 4)))  # version 3 from now on
        seal_all(engine)
        with UnitOfWork(engine, read_only=True) as u:
            assert len(find_entries(u.connection, customer_id="C-1")) == 3
        with UnitOfWork(engine) as u:
            result = shred(u.connection, CUSTOMER, "C-1")
        assert (result.keys, result.legacy_entries) == (1, 2)
        with UnitOfWork(engine) as u:  # erasing again records nothing new
            assert shred(u.connection, CUSTOMER, "C-1").legacy_entries == 0
        verified = verify(engine, key=key)
        assert verified.ok and verified.verified == 5
        with UnitOfWork(engine, read_only=True) as u:
            assert find_entries(u.connection, customer_id="C-1") == []
            assert len(find_entries(u.connection, customer_id="C-2")) == 2
            # the clear IDs of the old entries remain in their text (documented)
            clear = u.connection.execute(
                text("SELECT count(*) FROM access_ledger WHERE customer_id = 'C-1'")
            ).scalar_one()
        assert clear == 2
    finally:
        bind_key(engine, None)
        engine.dispose()

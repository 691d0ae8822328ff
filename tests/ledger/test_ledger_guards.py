"""The database itself refuses to change the ledger (triggers), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from jointuse.core.db import UnitOfWork
from jointuse.ledger import LedgerEntry, append, seal_all
from jointuse.ledger.checkpoint import create_checkpoint
from jointuse.ledger.service import verify

H = "ab" * 32
SEAL_COLUMNS = "(chain_pos, seq, prev_hash, hash)"


def _entry(i: int) -> LedgerEntry:
    return LedgerEntry(
        party="T03", purpose="P4_tso_operations", action="write", decision="allowed",
        supply_point_id=f"03{i:020d}", items_granted=("meter_info",),
    )  # fmt: skip


@pytest.fixture
def ledger(engine: Engine, uow: Callable[..., UnitOfWork]) -> Engine:
    """Two sealed entries (seq 1, 2) and one unsealed (seq 3)."""
    for i in range(2):
        with uow() as u:
            append(u.session, _entry(i))
    seal_all(engine)
    with uow() as u:
        append(u.session, _entry(2))
    return engine


def _refused(engine: Engine, sql: str, match: str = "append-only") -> None:
    with pytest.raises(IntegrityError, match=match), engine.begin() as conn:
        conn.execute(text(sql))


REFUSED = [
    "DELETE FROM access_ledger WHERE seq = 1",
    "DELETE FROM access_ledger WHERE seq = 3",
    "DELETE FROM access_ledger",
    "UPDATE access_ledger SET entry = replace(entry, 'T03', 'T04'), party = 'T04' WHERE seq = 1",
    "UPDATE access_ledger SET entry = replace(entry, 'T03', 'T04'), party = 'T04' WHERE seq = 3",
    "UPDATE access_ledger SET seq = 99 WHERE seq = 1",
    "UPDATE access_ledger SET request_id = request_id WHERE seq = 3",  # even a no-op
    "DELETE FROM access_ledger_seal WHERE chain_pos = 2",
    "DELETE FROM access_ledger_seal",
    f"UPDATE access_ledger_seal SET hash = '{H}' WHERE chain_pos = 1",
    f"UPDATE access_ledger_seal SET prev_hash = '{H}' WHERE chain_pos = 1",
    "UPDATE access_ledger_seal SET chain_pos = 9 WHERE chain_pos = 2",
    "UPDATE access_ledger_seal SET seq = 3 WHERE chain_pos = 2",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_every_update_and_delete_is_refused(ledger: Engine, sql: str) -> None:
    _refused(ledger, sql)
    assert verify(ledger).ok  # nothing changed


@pytest.mark.parametrize(
    ("sql", "match"),
    [
        # descriptive columns that do not match the hashed entry
        (
            "INSERT INTO access_ledger (entry, recorded_at, party, purpose, action, decision,"
            " supply_point_id, customer_id, rule_id, request_id, items_granted, items_refused)"
            " SELECT entry, recorded_at, 'T04', purpose, action, decision, supply_point_id,"
            " customer_id, rule_id, request_id, items_granted, items_refused FROM access_ledger"
            " WHERE seq = 1",
            "columns_match_entry",
        ),
        (
            "INSERT INTO access_ledger (entry, recorded_at, party, purpose, action, decision,"
            " supply_point_id, customer_id, rule_id, request_id, items_granted, items_refused)"
            " SELECT entry, recorded_at, party, purpose, action, decision, supply_point_id,"
            " customer_id, rule_id, request_id, '[]', items_refused FROM access_ledger"
            " WHERE seq = 1",
            "columns_match_entry",
        ),
        # a second seal for a sealed entry, a malformed seal
        (f"INSERT INTO access_ledger_seal {SEAL_COLUMNS} VALUES (3, 1, '{H}', '{H}')", "seq"),
        (
            f"INSERT INTO access_ledger_seal {SEAL_COLUMNS} VALUES (3, 3, 'ab', '{H}')",
            "well_formed",
        ),
    ],
)
def test_inconsistent_inserts_are_refused(ledger: Engine, sql: str, match: str) -> None:
    _refused(ledger, sql, match=match)
    assert verify(ledger).ok


def test_a_bogus_seal_can_be_inserted_but_verify_catches_it(ledger: Engine) -> None:
    with ledger.begin() as conn:
        conn.execute(
            text(f"INSERT INTO access_ledger_seal {SEAL_COLUMNS} VALUES (3, 3, '{H}', '{H}')")
        )
    result = verify(ledger)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos) == ("prev_hash_mismatch", 3)


def test_truncate_is_refused_on_postgresql(ledger: Engine, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only (SQLite's DELETE is tested above)")
    _refused(ledger, "TRUNCATE access_ledger")
    _refused(ledger, "TRUNCATE ledger_checkpoint", match="ledger_checkpoint is append-only")


def test_insert_or_replace_cannot_delete_on_sqlite(ledger: Engine, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite syntax")
    _refused(
        ledger,
        "INSERT OR REPLACE INTO access_ledger SELECT 1, entry, recorded_at, party, purpose,"
        " action, decision, supply_point_id, customer_id, rule_id, request_id, items_granted,"
        " items_refused, mac FROM access_ledger WHERE seq = 3",
    )
    _refused(
        ledger,
        "INSERT OR REPLACE INTO access_ledger_seal SELECT chain_pos, seq, hash, prev_hash, mac"
        " FROM access_ledger_seal WHERE chain_pos = 1",
    )
    assert verify(ledger).ok


def test_checkpoints_cannot_be_changed(ledger: Engine) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    create_checkpoint(ledger, Ed25519PrivateKey.generate())
    match = "ledger_checkpoint is append-only"
    _refused(ledger, f"UPDATE ledger_checkpoint SET head_hash = '{H}'", match=match)
    _refused(ledger, "UPDATE ledger_checkpoint SET chain_pos = 0", match=match)
    _refused(ledger, "DELETE FROM ledger_checkpoint", match=match)

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
    "UPDATE access_ledger SET entry = replace(entry, 'T03', 'T04') WHERE seq = 1",
    "UPDATE access_ledger SET entry = replace(entry, 'T03', 'T04') WHERE seq = 3",
    f"UPDATE access_ledger SET hash = '{H}' WHERE seq = 1",
    f"UPDATE access_ledger SET prev_hash = '{H}' WHERE seq = 1",
    "UPDATE access_ledger SET chain_pos = 9 WHERE seq = 2",
    "UPDATE access_ledger SET seq = 99 WHERE seq = 1",
    "UPDATE access_ledger SET chain_pos = NULL, prev_hash = NULL, hash = NULL WHERE seq = 2",
    # sealing fields of an unsealed entry, but not all of them / with another change
    f"UPDATE access_ledger SET hash = '{H}' WHERE seq = 3",
    f"UPDATE access_ledger SET chain_pos = 3, hash = '{H}' WHERE seq = 3",
    f"UPDATE access_ledger SET chain_pos = 3, prev_hash = '{H}', hash = '{H}', seq = 77"
    " WHERE seq = 3",
    f"UPDATE access_ledger SET chain_pos = 3, prev_hash = '{H}', hash = '{H}',"
    " entry = replace(entry, 'T03', 'T04') WHERE seq = 3",
    f"INSERT INTO access_ledger (entry, chain_pos, prev_hash, hash)"
    f" SELECT entry, 3, '{H}', '{H}' FROM access_ledger WHERE seq = 1",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_every_change_but_sealing_is_refused(ledger: Engine, sql: str) -> None:
    _refused(ledger, sql)
    assert verify(ledger).ok  # nothing changed


def test_the_sealer_update_is_allowed_once(ledger: Engine) -> None:
    with ledger.begin() as conn:
        conn.execute(
            text(
                f"UPDATE access_ledger SET chain_pos = 3, prev_hash = '{H}', hash = '{H}'"
                " WHERE seq = 3"
            )
        )
    _refused(ledger, "UPDATE access_ledger SET hash = prev_hash WHERE seq = 3")
    assert verify(ledger).broken is not None  # the bogus seal is then caught by verify


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
        "INSERT OR REPLACE INTO access_ledger (seq, entry) SELECT 1, entry FROM access_ledger"
        " WHERE seq = 3",
    )
    assert verify(ledger).ok


def test_checkpoints_cannot_be_changed(ledger: Engine) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    create_checkpoint(ledger, Ed25519PrivateKey.generate())
    match = "ledger_checkpoint is append-only"
    _refused(ledger, f"UPDATE ledger_checkpoint SET head_hash = '{H}'", match=match)
    _refused(ledger, "UPDATE ledger_checkpoint SET chain_pos = 0", match=match)
    _refused(ledger, "DELETE FROM ledger_checkpoint", match=match)

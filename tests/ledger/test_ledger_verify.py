"""Tampering by someone with database superuser rights is found by verify (both backends)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_fill import sealed_chain
from ledger_tamper import rehash_from, tamper
from sqlalchemy import Engine

from jointuse.core.db import UnitOfWork
from jointuse.ledger import LedgerEntry, append, seal_all, verify
from jointuse.ledger.checkpoint import create_checkpoint, public_key_hex


@pytest.fixture
def ledger(engine: Engine, uow: Callable[..., UnitOfWork]) -> Engine:
    """Eight sealed entries, seq 1..8 at chain positions 1..8."""
    for i in range(8):
        with uow() as u:
            append(
                u.session,
                LedgerEntry(
                    party="R0001" if i % 2 else "T03",
                    purpose="P1_wheeling",
                    action="read",
                    decision="allowed",
                    customer_id=f"C-{i}",
                    items_granted=("name",),
                    version=2,  # clear IDs (edited by value below), as before pseudonyms
                ),
            )
    seal_all(engine)
    return engine


def test_untouched_ledger_verifies(ledger: Engine) -> None:
    result = verify(ledger, chunk=3)
    assert result.ok
    assert (result.verified, result.head_pos, result.unsealed) == (8, 8, 0)


def test_edited_entry_is_found(ledger: Engine) -> None:
    tamper(
        ledger,
        "UPDATE access_ledger SET entry = replace(entry, 'C-4', 'C-9'), customer_id = 'C-9'"
        " WHERE seq = 5",
    )
    result = verify(ledger, chunk=3)
    assert not result.ok and result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos, result.broken.seq) == (
        "hash_mismatch",
        5,
        5,
    )
    assert result.verified == 4


def test_edited_prev_hash_is_found(ledger: Engine) -> None:
    tamper(ledger, f"UPDATE access_ledger_seal SET prev_hash = '{'0' * 64}' WHERE seq = 3")
    result = verify(ledger)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos) == ("prev_hash_mismatch", 3)


def test_deleted_entry_is_a_gap(ledger: Engine) -> None:
    tamper(ledger, "DELETE FROM access_ledger_seal WHERE seq = 6")
    result = verify(ledger)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos) == ("gap", 6)
    assert "expected chain position 6, found 7" in result.broken.describe()


def test_deleted_entry_under_its_seal_is_found(ledger: Engine) -> None:
    tamper(ledger, "DELETE FROM access_ledger WHERE seq = 8")
    result = verify(ledger, chunk=3)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos, result.broken.seq) == (
        "missing_entry",
        8,
        8,
    )
    assert result.verified == 7 and result.unsealed == 0


def test_a_break_late_in_a_long_chain_is_found_exactly(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    sealed_chain(engine, uow, 250, batch=64)
    assert verify(engine, chunk=50).verified == 250
    tamper(
        engine,
        "UPDATE access_ledger SET entry = replace(entry, 'C-200', 'C-X'), customer_id = 'C-X'"
        " WHERE seq = 200",
    )
    result = verify(engine, chunk=50)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos, result.verified) == (
        "hash_mismatch",
        200,
        199,
    )


def test_consistent_rewrite_is_caught_by_an_earlier_checkpoint(ledger: Engine) -> None:
    key = Ed25519PrivateKey.generate()
    checkpoint = create_checkpoint(ledger, key)
    assert checkpoint.chain_pos == 8
    tamper(
        ledger,
        "UPDATE access_ledger SET entry = replace(entry, 'C-2', 'C-7'), customer_id = 'C-7'"
        " WHERE seq = 3",
    )
    rehash_from(ledger, 3)
    result = verify(ledger, trusted_keys=[public_key_hex(key.public_key())])
    assert result.broken is None  # the chain itself is consistent again …
    assert not result.ok  # … but it no longer matches what was signed
    (problem,) = result.checkpoint_problems
    assert problem.checkpoint_id == checkpoint.id
    assert "rewritten" in problem.problem


def test_truncated_tail_is_caught_by_a_checkpoint(ledger: Engine) -> None:
    key = Ed25519PrivateKey.generate()
    create_checkpoint(ledger, key)
    tamper(
        ledger,
        "DELETE FROM access_ledger_seal WHERE seq IN (7, 8)",
        "DELETE FROM access_ledger WHERE seq IN (7, 8)",
    )
    result = verify(ledger)
    assert result.broken is None and result.verified == 6 and result.unsealed == 0
    (problem,) = result.checkpoint_problems
    assert "truncated" in problem.problem

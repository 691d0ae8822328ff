"""Tampering by someone with full rights on the database but not the ledger key (issue 12).

Each kind that ``verify`` missed before the ledger key existed, on SQLite and PostgreSQL:
truncation after the latest checkpoint; anything once the checkpoint rows are deleted too; a
rewrite with the triggers switched off; a forged, back-dated ``INSERT`` (which needs no bypass,
and which ``ledger verify`` used to seal into the chain itself).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ledger_tamper import rehash_from, tamper
from sqlalchemy import Engine, text

from jointuse.core.db import UnitOfWork, make_engine
from jointuse.ledger import LedgerEntry, LedgerKey, append, bind_key, seal_all, verify
from jointuse.ledger.chain import canonical_entry, entry_hash
from jointuse.ledger.checkpoint import (
    HeadNotAuthenticated,
    LedgerKeyRequired,
    create_checkpoint,
    sealed_head,
)
from jointuse.ledger.service import BackgroundSealer, seal

T_PAST = datetime(2023, 1, 5, 10, 0, tzinfo=UTC)


def _entry(i: int, **changes: object) -> LedgerEntry:
    fields: dict[str, object] = {
        "party": "tso-03",
        "purpose": "P4_tso_operations",
        "action": "read",
        "decision": "allowed",
        "customer_id": f"C-{i}",
        "items_granted": ("name",),
        "request_id": f"req-{i}",
        "version": 2,  # clear IDs (edited by value below), as before pseudonyms
    }
    fields.update(changes)
    return LedgerEntry(**fields)  # type: ignore[arg-type]


def _append(uow: Callable[..., UnitOfWork], first: int, n: int) -> None:
    for i in range(first, first + n):
        with uow() as u:
            append(u.session, _entry(i))


@pytest.fixture
def key() -> LedgerKey:
    return LedgerKey.generate()


@pytest.fixture
def ledger(engine: Engine, uow: Callable[..., UnitOfWork], key: LedgerKey) -> Engine:
    """The application's engine with its key: eight entries, sealed (seq = position 1..8)."""
    bind_key(engine, key)
    _append(uow, 1, 8)
    assert seal_all(engine).sealed == 8
    return engine


def _problems(result: object) -> list[str]:
    return [p.describe() for p in getattr(result, "auth_problems", ())] + [
        p.describe() for p in getattr(result, "checkpoint_problems", ())
    ]


def test_an_untouched_keyed_ledger_verifies_with_nothing_left_unchecked_but_the_tail(
    ledger: Engine, key: LedgerKey, tmp_path: Path
) -> None:
    export = tmp_path / "checkpoints.jsonl"
    create_checkpoint(ledger, key, export=export)
    result = verify(ledger, key=key, checkpoint_files=[export], chunk=3)
    assert result.ok, _problems(result)
    assert (result.verified, result.authenticated, result.seal_macs_checked) == (8, 8, 1)
    assert result.trusted_checkpoint == 8
    assert result.not_checked == ()
    assert result.unmet(require_checkpoint=True) == []


# --- 1. truncation after the latest checkpoint -------------------------------------------------


def _truncate(engine: Engine, after: int) -> None:
    tamper(
        engine,
        f"DELETE FROM access_ledger WHERE seq IN"
        f" (SELECT seq FROM access_ledger_seal WHERE chain_pos > {after})",
        f"DELETE FROM access_ledger_seal WHERE chain_pos > {after}",
    )


def test_truncation_after_the_latest_checkpoint_is_caught_by_the_sealers_export(
    ledger: Engine, uow: Callable[..., UnitOfWork], key: LedgerKey, tmp_path: Path
) -> None:
    export = tmp_path / "checkpoints.jsonl"
    create_checkpoint(ledger, key)  # the latest checkpoint in the database: position 8
    _append(uow, 9, 4)
    sealer = BackgroundSealer(ledger, key=key, export=export, export_interval=0)
    sealer.run_once()  # seals 9..12 and exports a signed checkpoint of position 12
    assert sealer.exported is not None and sealer.exported[0] == 12
    _truncate(ledger, 8)  # the last sealing run (positions 9..12) gone, with its entries

    # the database alone no longer shows it: every remaining seal, MAC and checkpoint is
    # consistent (a cut inside a sealing run would show: see the next test)
    alone = verify(ledger, key=key)
    assert alone.ok and alone.verified == 8, _problems(alone)
    assert any("no checkpoint kept outside" in line for line in alone.not_checked)
    # the checkpoint kept outside the database does
    result = verify(ledger, key=key, checkpoint_files=[export])
    assert not result.ok
    (problem,) = result.checkpoint_problems
    assert "truncated" in problem.problem and problem.chain_pos == 12
    assert str(export) in problem.describe()
    # and the running sealer stops rather than chain new entries onto the cut
    _append(uow, 13, 1)
    with pytest.raises(HeadNotAuthenticated, match="truncated or rewritten"):
        seal_all(ledger)
    sealer.run_once()
    assert sealer.problem is not None


def test_a_cut_inside_a_sealing_run_shows_with_the_key_alone(
    ledger: Engine, uow: Callable[..., UnitOfWork], key: LedgerKey
) -> None:
    _append(uow, 9, 4)
    seal_all(ledger)  # one run: its seal MAC is on position 12
    _truncate(ledger, 10)
    result = verify(ledger, key=key)
    assert result.broken is None and result.authenticated == 8
    assert [(p.kind, p.chain_pos, p.last) for p in result.auth_problems] == [
        ("unauthenticated", 9, 10)
    ]


# --- 2. the checkpoint rows deleted too ---------------------------------------------------------


def test_deleting_the_checkpoints_as_well_hides_neither_a_rewrite_nor_a_deletion(
    ledger: Engine, key: LedgerKey, tmp_path: Path, backend: str
) -> None:
    export = tmp_path / "checkpoints.jsonl"
    create_checkpoint(ledger, key, export=export)
    # delete entry 5 (and its seal), re-chain the rest, delete the checkpoint rows
    tamper(
        ledger,
        "DELETE FROM access_ledger_seal WHERE chain_pos = 5",
        "DELETE FROM access_ledger WHERE seq = 5",
        "DELETE FROM ledger_checkpoint",
    )
    rehash_from(ledger, 5)
    plain = verify(ledger, trusted_keys=[key.public_hex])
    assert plain.broken is None and plain.verified == 7 and plain.checkpoints_checked == 0
    assert plain.ok  # what the chain alone can prove: nothing is wrong with it …
    assert plain.unmet(require_checkpoint=True)  # … so a required checkpoint is missing
    # the key: the seal MAC at the old head no longer vouches for the re-chained positions
    keyed = verify(ledger, key=key)
    assert not keyed.ok
    # (the seal row that carried the MAC moved from position 8 to 7 and no longer verifies)
    kinds = [p.kind for p in keyed.auth_problems]
    assert kinds == ["seal_mac", "unauthenticated"], _problems(keyed)
    assert keyed.authenticated == 0
    # the exported checkpoint: position 8 is gone (the chain is now 7 long)
    exported = verify(ledger, checkpoint_files=[export], trusted_keys=[key.public_hex])
    assert [p.chain_pos for p in exported.checkpoint_problems] == [8]


def test_a_consistent_rewrite_with_checkpoints_deleted_is_caught_by_the_seal_mac(
    ledger: Engine, key: LedgerKey
) -> None:
    create_checkpoint(ledger, key)
    tamper(
        ledger,
        "UPDATE access_ledger SET entry = replace(entry, 'C-3', 'C-9'), customer_id = 'C-9'"
        " WHERE seq = 3",
        "DELETE FROM ledger_checkpoint",
    )
    rehash_from(ledger, 3)
    result = verify(ledger, key=key)
    assert result.broken is None and result.checkpoints_checked == 0
    assert [p.kind for p in result.auth_problems] == ["seal_mac", "unauthenticated"]
    assert result.auth_problems[0].chain_pos == 8
    assert "positions 1..8" in result.auth_problems[1].problem


# --- 3. a rewrite with the triggers switched off ------------------------------------------------


def test_a_rewrite_with_triggers_switched_off_is_caught(
    ledger: Engine, key: LedgerKey, backend: str
) -> None:
    # PostgreSQL: session_replication_role = replica; SQLite: triggers dropped and re-created
    tamper(
        ledger,
        "UPDATE access_ledger SET entry = replace(entry, 'tso-03', 'tso-04'), party = 'tso-04'"
        " WHERE seq = 6",
        replica=True,
    )
    broken = verify(ledger, key=key)
    assert broken.broken is not None and broken.broken.chain_pos == 6
    rehash_from(ledger, 6, replica=True)  # and the hashes recomputed the same way
    result = verify(ledger, key=key)
    assert result.broken is None and not result.ok
    assert [p.kind for p in result.auth_problems] == ["seal_mac", "unauthenticated"]
    # and the sealer will not extend the rewritten head
    with ledger.begin() as conn:
        append(conn, _entry(99))
    with pytest.raises(HeadNotAuthenticated, match="truncated or rewritten"):
        seal(ledger)  # this process remembers the head it left
    with fresh_engine(ledger) as other, pytest.raises(HeadNotAuthenticated, match="not verify"):
        seal(other, key=key)  # another process: the head's seal MAC does not verify


# --- 4. a forged, back-dated INSERT (no bypass needed) ------------------------------------------


def _forge(engine: Engine, seq: int, mac: str | None) -> None:
    """INSERT an entry as any user allowed to write the table could: no trigger stops it."""
    entry = canonical_entry(
        _entry(0, party="r-forger", customer_id="C-1", request_id="r", recorded_at=T_PAST)
    )
    data = json.loads(entry)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO access_ledger (seq, entry, recorded_at, party, purpose, action,"
                " decision, supply_point_id, customer_id, rule_id, request_id, items_granted,"
                " items_refused, mac) VALUES (:seq, :entry, :recorded_at, :party, :purpose,"
                " :action, :decision, NULL, :customer_id, NULL, :request_id, :granted, '[]', :mac)"
            ),
            {**data, "seq": seq, "entry": entry, "granted": '["name"]', "mac": mac},
        )


@pytest.mark.parametrize("mac", [None, "ab" * 32], ids=["no_mac", "made_up_mac"])
def test_a_forged_back_dated_insert_is_neither_sealed_nor_missed(
    ledger: Engine, key: LedgerKey, mac: str | None
) -> None:
    _forge(ledger, 20, mac)
    head = verify(ledger).head_pos
    result = verify(ledger, key=key)
    assert (result.verified, result.unsealed, result.head_pos) == (
        8,
        1,
        head,
    )  # verify wrote nothing
    assert not result.ok
    (problem,) = result.auth_problems
    assert (problem.kind, problem.seq) == ("forged_entry", 20)
    # the sealer refuses it (and seals the genuine entries after it)
    sealed = seal_all(ledger)
    assert [r.seq for r in sealed.refused] == [20] and sealed.sealed == 0
    assert verify(ledger, key=key).unsealed == 1
    assert not verify(ledger, key=key).ok


def test_a_replayed_copy_of_a_genuine_entry_is_refused(ledger: Engine, key: LedgerKey) -> None:
    with ledger.begin() as conn:  # copy entry 2 with its MAC under a new seq
        conn.execute(
            text(
                "INSERT INTO access_ledger (seq, entry, recorded_at, party, purpose, action,"
                " decision, supply_point_id, customer_id, rule_id, request_id, items_granted,"
                " items_refused, mac) SELECT 30, entry, recorded_at, party, purpose, action,"
                " decision, supply_point_id, customer_id, rule_id, request_id, items_granted,"
                " items_refused, mac FROM access_ledger WHERE seq = 2"
            )
        )
    assert [(r.seq, r.reason) for r in seal_all(ledger).refused] == [(30, "MAC does not verify")]
    assert [p.seq for p in verify(ledger, key=key).auth_problems] == [30]


def test_a_forged_entry_sealed_by_hand_is_caught_and_not_extended(
    ledger: Engine, uow: Callable[..., UnitOfWork], key: LedgerKey
) -> None:
    _forge(ledger, 20, None)
    with ledger.connect() as conn:
        pos, prev = sealed_head(conn)
        entry = conn.execute(text("SELECT entry FROM access_ledger WHERE seq = 20")).scalar_one()
    digest = entry_hash(pos + 1, 20, prev, entry)
    with ledger.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO access_ledger_seal (chain_pos, seq, prev_hash, hash)"
                f" VALUES ({pos + 1}, 20, '{prev}', '{digest}')"
            )
        )
    assert verify(ledger).ok  # a consistent chain …
    result = verify(ledger, key=key)  # … with a position no seal MAC vouches for
    assert [(p.kind, p.chain_pos, p.last) for p in result.auth_problems] == [
        ("unauthenticated", 9, 9)
    ]
    _append(uow, 9, 1)
    with pytest.raises(HeadNotAuthenticated, match=r"positions 9\.\.9 were sealed without"):
        seal_all(ledger)


# --- keys and ledgers from before keys ----------------------------------------------------------


def test_a_ledger_from_before_keys_is_adopted_once_explicitly(
    engine: Engine, uow: Callable[..., UnitOfWork], key: LedgerKey
) -> None:
    _append(uow, 1, 3)  # no key bound: no MACs
    assert seal_all(engine).sealed == 3
    assert verify(engine).ok
    unauth = verify(engine, key=key)
    assert [p.kind for p in unauth.auth_problems] == ["unauthenticated"]
    bind_key(engine, key)
    _append(uow, 4, 2)
    with pytest.raises(HeadNotAuthenticated, match="seal --adopt"):
        seal_all(engine)
    assert seal_all(engine, adopt=True).sealed == 2
    result = verify(engine, key=key)
    assert result.ok and result.authenticated == 5
    # from now on, work without the key is refused rather than left for the sealer to refuse
    with fresh_engine(engine) as other, pytest.raises(LedgerKeyRequired), other.begin() as conn:
        append(conn, _entry(50))  # an engine without the key may not add MAC-less entries
    with engine.begin() as conn:
        append(conn, _entry(51), key=None)  # (written anyway, past the check)
    with fresh_engine(engine) as other, pytest.raises(LedgerKeyRequired):
        seal_all(other)  # nor seal an authenticated ledger
    assert [p.seq for p in verify(engine, key=key).auth_problems] == [6]


@contextmanager
def fresh_engine(engine: Engine) -> Iterator[Engine]:
    """Another engine on the same database, as another process would have (no key bound)."""
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        yield other
    finally:
        other.dispose()


def test_entries_are_bound_to_their_seq_and_key(key: LedgerKey) -> None:
    text_ = canonical_entry(_entry(1, recorded_at=T_PAST))
    mac = key.entry_mac(7, text_)
    assert key.entry_mac_valid(7, text_, mac)
    assert not key.entry_mac_valid(8, text_, mac)
    assert not key.entry_mac_valid(7, text_.replace("C-1", "C-2"), mac)
    assert not LedgerKey.generate().entry_mac_valid(7, text_, mac)
    assert key.seal_mac(3, "a" * 64) != key.entry_mac(3, "a" * 64)  # separate derived keys
    assert "LedgerKey(public=" in repr(key) and key.public_hex in repr(key)

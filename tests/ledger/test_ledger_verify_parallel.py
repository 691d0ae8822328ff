"""verify in parallel segments (forked workers): breaks inside and at the joins of segments."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ledger_fill import sealed_chain
from ledger_tamper import tamper
from sqlalchemy import Engine

from jointuse.core.db import UnitOfWork
from jointuse.ledger import GENESIS_HASH, verify
from jointuse.ledger.verifying import (
    SegmentResult,
    choose_workers,
    proven_prefix,
    run_segments,
    split,
)


@pytest.fixture
def chain(engine: Engine, uow: Callable[..., UnitOfWork]) -> Engine:
    """250 sealed entries: with 2 workers the segments are 1..125 and 126..250."""
    return sealed_chain(engine, uow, 250, batch=100)


def _edit_entry(engine: Engine, seq: int) -> None:
    tamper(
        engine,
        f"UPDATE access_ledger SET entry = replace(entry, '\"C-{seq}\"', '\"C-X\"'),"
        f" customer_id = 'C-X' WHERE seq = {seq}",
    )


def test_split_covers_the_chain_contiguously() -> None:
    assert split(250, 2) == [(1, 125), (126, 250)]
    assert split(7, 3) == [(1, 2), (3, 4), (5, 7)]
    assert choose_workers(None, 10) == 1  # too short to be worth a fork
    with pytest.raises(ValueError, match="workers must be between 1 and"):
        choose_workers(0, 10)


def test_untouched_chain_verifies_with_two_workers(chain: Engine) -> None:
    result = verify(chain, workers=2, chunk=40)
    assert result.ok and result.workers == 2
    assert (result.verified, result.head_pos, result.unsealed) == (250, 250, 0)


def test_a_break_in_the_second_segment_is_named(chain: Engine) -> None:
    _edit_entry(chain, 200)
    result = verify(chain, workers=2, chunk=40)
    assert result.broken is not None and result.workers == 2
    assert (result.broken.kind, result.broken.chain_pos, result.verified) == (
        "hash_mismatch",
        200,
        199,
    )


def test_a_break_in_the_first_segment_hides_nothing_after_it(chain: Engine) -> None:
    _edit_entry(chain, 30)
    result = verify(chain, workers=2, chunk=40)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos, result.verified) == (
        "hash_mismatch",
        30,
        29,
    )


def test_last_entry_of_a_segment_edited(chain: Engine) -> None:
    _edit_entry(chain, 125)
    result = verify(chain, workers=2, chunk=40)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos) == ("hash_mismatch", 125)


def test_broken_join_between_segments_is_found(chain: Engine) -> None:
    """Position 126 (first of segment 2) no longer links to 125: only the join check sees it."""
    tamper(chain, f"UPDATE access_ledger_seal SET prev_hash = '{'a' * 64}' WHERE chain_pos = 126")
    result = verify(chain, workers=2, chunk=40)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos, result.verified) == (
        "prev_hash_mismatch",
        126,
        125,
    )
    assert result.broken.found == "a" * 64


def test_gap_at_a_segment_boundary_is_found(chain: Engine) -> None:
    tamper(chain, "DELETE FROM access_ledger_seal WHERE chain_pos = 126")
    result = verify(chain, workers=2, chunk=40)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos) == ("gap", 126)


def test_missing_entry_in_the_second_segment(chain: Engine) -> None:
    tamper(chain, "DELETE FROM access_ledger WHERE seq = 240")
    result = verify(chain, workers=2, chunk=40)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos) == ("missing_entry", 240)


def test_proven_prefix_stops_at_a_bad_join() -> None:
    a = SegmentResult(1, 10, 10, GENESIS_HASH, "a" * 64)
    b = SegmentResult(11, 20, 10, "b" * 64, "c" * 64)  # does not link to a
    assert proven_prefix([a, b]) == (10, "a" * 64)
    partial = SegmentResult(1, 10, 4, GENESIS_HASH, "d" * 64)
    assert proven_prefix([partial, b]) == (4, "d" * 64)
    died = SegmentResult(11, 20, 0, None, None)
    assert proven_prefix([a, died]) == (10, "a" * 64)


def test_forked_workers_prove_their_segments(chain: Engine) -> None:
    """Each worker proves its whole segment itself (none hands its range back)."""
    with chain.connect() as conn, conn.begin():
        results = run_segments(conn, 250, 2, 40)
    assert [(r.lo, r.hi, r.complete) for r in results] == [(1, 125, True), (126, 250, True)]
    assert proven_prefix(results)[0] == 250


def test_progress_counts_every_position_once(chain: Engine) -> None:
    heard: list[tuple[int, int]] = []
    result = verify(
        chain, workers=2, chunk=40, progress=lambda done, total: heard.append((done, total))
    )
    assert result.ok and result.workers == 2
    assert heard and heard[-1] == (250, 250)
    assert {total for _, total in heard} == {250}
    assert [done for done, _ in heard] == sorted(done for done, _ in heard)  # never back
    assert len(heard) >= 4  # at least once per chunk of this process's segment (1..125)


def test_progress_follows_the_exact_path_too(chain: Engine) -> None:
    tamper(chain, "DELETE FROM access_ledger_seal WHERE chain_pos = 126")
    heard: list[tuple[int, int]] = []
    result = verify(
        chain, workers=1, chunk=40, progress=lambda done, total: heard.append((done, total))
    )
    assert result.broken is not None and result.verified == 125
    assert heard and heard[-1] == (125, 250)
    assert {total for _, total in heard} == {250}

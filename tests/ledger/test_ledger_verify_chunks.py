"""verify's aggregated path: the messages it builds, what it accepts, where it hands over."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ledger_fill import sealed_chain
from ledger_tamper import rehash_from, tamper
from sqlalchemy import Connection, Engine, text

from jointuse.core.db import UnitOfWork
from jointuse.ledger import GENESIS_HASH, verify
from jointuse.ledger.chain import hash_message
from jointuse.ledger.checkpoint import sealed_head
from jointuse.ledger.verifying import (
    AggregatedChunk,
    aggregated_chunk_verifies,
    chunk_messages,
    read_chunk,
)


@pytest.fixture
def chain(engine: Engine, uow: Callable[..., UnitOfWork]) -> Engine:
    """30 sealed entries (seq 1..30 at positions 1..30), sealed in batches of 7."""
    return sealed_chain(engine, uow, 30, batch=7)


@pytest.fixture
def conn(chain: Engine) -> Iterator[Connection]:
    with chain.connect() as c, c.begin():
        yield c


def _read(conn: Connection, lo: int, hi: int) -> AggregatedChunk:
    dbapi: Any = conn.connection.driver_connection
    return read_chunk(dbapi, conn.dialect.name, lo, hi)


def _hash_at(conn: Connection, pos: int) -> str:
    return str(
        conn.execute(
            text("SELECT hash FROM access_ledger_seal WHERE chain_pos = :p"), {"p": pos}
        ).scalar_one()
    )


def test_messages_are_the_documented_hash_messages(conn: Connection) -> None:
    rows = conn.execute(
        text(
            "SELECT s.chain_pos, s.seq, s.prev_hash, l.entry FROM access_ledger_seal s"
            " JOIN access_ledger l ON l.seq = s.seq ORDER BY s.chain_pos"
        )
    ).all()
    assert len(rows) == 30
    assert chunk_messages(_read(conn, 1, 30)) == [hash_message(*row) for row in rows]
    assert chunk_messages(_read(conn, 8, 12)) == [hash_message(*row) for row in rows[7:12]]


def test_untouched_chunks_verify_and_chain_on(conn: Connection) -> None:
    head = GENESIS_HASH
    for lo in (1, 11, 21):
        got = aggregated_chunk_verifies(_read(conn, lo, lo + 9), head)
        assert got == _hash_at(conn, lo + 9)
        head = got
    assert head == sealed_head(conn)[1]


def test_a_chunk_that_does_not_link_to_the_head_is_refused(conn: Connection) -> None:
    assert aggregated_chunk_verifies(_read(conn, 11, 20), GENESIS_HASH) is None
    assert aggregated_chunk_verifies(_read(conn, 11, 20), _hash_at(conn, 10)) is not None


def test_a_hash_stored_in_upper_case_is_not_the_stored_hash(chain: Engine) -> None:
    tamper(chain, "UPDATE access_ledger_seal SET hash = upper(hash) WHERE chain_pos = 4")
    with chain.connect() as c, c.begin():
        assert aggregated_chunk_verifies(_read(c, 1, 10), GENESIS_HASH) is None
    result = verify(chain, chunk=10)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos) == ("hash_mismatch", 4)


def test_a_missing_position_hands_the_chunk_over(chain: Engine) -> None:
    tamper(chain, "DELETE FROM access_ledger_seal WHERE chain_pos = 15")
    with chain.connect() as c, c.begin():
        assert chunk_messages(_read(c, 11, 20)) is None
        assert chunk_messages(_read(c, 16, 20)) is not None


def test_a_missing_entry_hands_the_chunk_over(chain: Engine) -> None:
    tamper(chain, "DELETE FROM access_ledger WHERE seq = 12")
    with chain.connect() as c, c.begin():
        assert chunk_messages(_read(c, 11, 20)) is None
    result = verify(chain, chunk=10)
    assert result.broken is not None
    assert (result.broken.kind, result.broken.chain_pos) == ("missing_entry", 12)


def test_a_chain_sealed_out_of_seq_order_verifies(chain: Engine) -> None:
    """As on PostgreSQL when a transaction commits late: positions 12 and 13 seal seqs 13, 12."""
    tamper(
        chain,
        "UPDATE access_ledger_seal SET seq = 1000 WHERE chain_pos = 12",
        "UPDATE access_ledger_seal SET seq = 12 WHERE chain_pos = 13",
        "UPDATE access_ledger_seal SET seq = 13 WHERE chain_pos = 12",
    )
    rehash_from(chain, 12)
    with chain.connect() as c, c.begin():
        chunk = _read(c, 11, 20)
        if c.dialect.name == "postgresql":  # read by a range of seq: not lined up
            assert chunk.texts is None and chunk_messages(chunk) is None
        else:  # read through the join: lined up
            assert aggregated_chunk_verifies(chunk, _hash_at(c, 10)) == _hash_at(c, 20)
    for workers in (1, 2):
        result = verify(chain, chunk=10, workers=workers)
        assert result.ok, result
        assert (result.verified, result.workers) == (30, workers)

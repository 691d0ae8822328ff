"""Ledger authentication: entry and seal MACs, the index of authenticated seals.

Revision ID: 0020_ledger_auth
Revises: 0040_settlement_runs

* ``access_ledger.mac``: the entry's MAC under the ledger key (:mod:`jointuse.ledger.keys`),
  written at append time; NULL for entries written without the key (every entry before this
  revision, and those of a server run ``--unauthenticated``).
* ``access_ledger_seal.mac``: the seal MAC, on the last seal of each sealing run with the key.
* ``ix_access_ledger_seal_authenticated``: a partial index of the positions whose seal carries a
  MAC, so that the sealer, ``ledger checkpoint`` and ``ledger verify`` find the last
  authenticated position (and every authenticated one) without reading the whole chain.
* the view ``access_ledger_chain`` shows both MACs (``entry_mac``, ``seal_mac``).
* PostgreSQL: ``jointuse_ledger_next_seq()`` draws the next entry's ``seq`` before its insert
  (the MAC covers it), after taking the ``ROW EXCLUSIVE`` lock an ``INSERT`` takes, as the
  sealer's floor requires (:mod:`jointuse.ledger.service`); one statement, one round trip.

Adding nullable columns changes no stored row: the append-only triggers stay as they are, and a
ledger written before this revision verifies as before (its positions are reported as not
authenticated until the operator adopts them once: ``jointuse ledger seal --adopt``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_ledger_auth"
down_revision: str | Sequence[str] | None = "0040_settlement_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_access_ledger_seal_authenticated"

_PG_NEXT_SEQ = """
    CREATE FUNCTION jointuse_ledger_next_seq() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
        LOCK TABLE access_ledger IN ROW EXCLUSIVE MODE;
        RETURN nextval(pg_get_serial_sequence('access_ledger', 'seq'));
    END
    $$
"""

_OLD_VIEW = """
    CREATE VIEW access_ledger_chain AS
    SELECT l.seq, s.chain_pos, s.prev_hash, s.hash, l.entry, l.recorded_at, l.party, l.purpose,
           l.action, l.decision, l.supply_point_id, l.customer_id, l.rule_id, l.request_id,
           l.items_granted, l.items_refused
    FROM access_ledger AS l LEFT JOIN access_ledger_seal AS s ON s.seq = l.seq
"""

_NEW_VIEW = """
    CREATE VIEW access_ledger_chain AS
    SELECT l.seq, s.chain_pos, s.prev_hash, s.hash, l.entry, l.recorded_at, l.party, l.purpose,
           l.action, l.decision, l.supply_point_id, l.customer_id, l.rule_id, l.request_id,
           l.items_granted, l.items_refused, l.mac AS entry_mac, s.mac AS seal_mac
    FROM access_ledger AS l LEFT JOIN access_ledger_seal AS s ON s.seq = l.seq
"""


def upgrade() -> None:
    op.execute("DROP VIEW access_ledger_chain")
    op.add_column("access_ledger", sa.Column("mac", sa.Text(), nullable=True))
    op.add_column("access_ledger_seal", sa.Column("mac", sa.String(64), nullable=True))
    op.create_index(
        _INDEX,
        "access_ledger_seal",
        ["chain_pos"],
        postgresql_where=sa.text("mac IS NOT NULL"),
        sqlite_where=sa.text("mac IS NOT NULL"),
    )
    op.execute(_NEW_VIEW)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_NEXT_SEQ)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION jointuse_ledger_next_seq()")
    op.execute("DROP VIEW access_ledger_chain")
    op.drop_index(_INDEX, table_name="access_ledger_seal")
    op.drop_column("access_ledger_seal", "mac")
    op.drop_column("access_ledger", "mac")
    op.execute(_OLD_VIEW)

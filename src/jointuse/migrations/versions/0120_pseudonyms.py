"""Keyed pseudonyms in the ledger: per-subject keys, and erasure records of older entries.

Revision ID: 0120_pseudonyms
Revises: 0110_policy_versions

* ``ledger_subject_key``: one random key per subject (customer; supply point and month), made on
  first use in the transaction of the entry that names it; entries from format version 3 on
  carry ``HMAC(key, …)`` instead of the ID (:mod:`jointuse.ledger.pseudonyms`). Deleting a row
  is crypto-shredding: this table is *not* append-only. ``pseudonym`` (unique) lets lookups
  show the ID of an entry's subject while its key lives.
* ``ledger_legacy_erasure``: erased subjects that entries from before this revision still name
  in clear; lookups skip those entries.

No stored entry changes: entries written before (versions 1 and 2, clear IDs) keep their text,
hash and MAC and verify as before. The CHECK that ties ``access_ledger``'s columns to its entry
holds for version 3 as it is (its ``customer_id`` / ``supply_point_id`` columns hold the
pseudonyms, so the existing indexes serve lookups by pseudonym).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0120_pseudonyms"
down_revision: str | Sequence[str] | None = "0110_policy_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_subject_key",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("epoch", sa.String(7), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("pseudonym", sa.String(35), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("kind", "subject_id", "epoch", name="pk_ledger_subject_key"),
        sa.UniqueConstraint("pseudonym", name="uq_ledger_subject_key_pseudonym"),
        sa.CheckConstraint(
            "kind IN ('customer', 'supply_point')", name="ck_ledger_subject_key_subject_kind"
        ),
        sa.CheckConstraint(
            "length(key) = 64 AND length(pseudonym) = 35",
            name="ck_ledger_subject_key_well_formed",
        ),
    )
    op.create_table(
        "ledger_legacy_erasure",
        sa.Column("id", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("since", sa.String(32), nullable=True),
        sa.Column("until", sa.String(32), nullable=True),
        sa.Column("erased_at", sa.String(32), nullable=False),
        sa.CheckConstraint(
            "kind IN ('customer', 'supply_point')", name="ck_ledger_legacy_erasure_subject_kind"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_ledger_legacy_erasure_subject", "ledger_legacy_erasure", ["kind", "subject_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_legacy_erasure_subject", table_name="ledger_legacy_erasure")
    op.drop_table("ledger_legacy_erasure")
    op.drop_table("ledger_subject_key")

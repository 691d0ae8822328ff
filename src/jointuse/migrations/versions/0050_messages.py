"""Messages between parties: the inbox each party peeks and acknowledges.

Revision ID: 0050_messages
Revises: 0010_flows
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0050_messages"
down_revision: str | Sequence[str] | None = "0010_flows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "party_message",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject_ref", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_party_message"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_party_message_recipient", "party_message", ["recipient", "id"])
    op.create_index(
        "ix_party_message_unacked",
        "party_message",
        ["recipient", "id"],
        sqlite_where=sa.text("acked_at IS NULL"),
        postgresql_where=sa.text("acked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("party_message")

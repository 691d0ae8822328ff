"""Customers' rights requests (APPI Arts. 33-35): requests, the parties each is routed or
propagated to, and every step.

Revision ID: 0100_rights_requests
Revises: 0140_users
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0100_rights_requests"
down_revision: str | Sequence[str] | None = "0140_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _moment(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "rights_request",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        _moment("received_at", nullable=False),
        _moment("due_at", nullable=False),
        _moment("completed_at", nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("document_format", sa.String(8), nullable=True),
        sa.Column("document", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rights_request"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name="fk_rights_request_account_id_customer_account",
        ),
        sa.CheckConstraint(
            "kind IN ('disclosure', 'correction', 'stop_use')", name="ck_rights_request_kind"
        ),
    )
    op.create_index("ix_rights_request_account", "rights_request", ["account_id", "received_at"])
    op.create_index("ix_rights_request_open", "rights_request", ["state", "due_at"])
    op.create_table(
        "rights_request_party",
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("party_code", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _moment("answered_at", nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("request_id", "party_code", name="pk_rights_request_party"),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["rights_request.id"],
            name="fk_rights_request_party_request_id_rights_request",
        ),
    )
    op.create_index(
        "ix_rights_request_party_party", "rights_request_party", ["party_code", "state"]
    )
    op.create_table(
        "rights_request_step",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        _moment("at", nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("state_from", sa.String(24), nullable=True),
        sa.Column("state_to", sa.String(24), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rights_request_step"),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["rights_request.id"],
            name="fk_rights_request_step_request_id_rights_request",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_rights_request_step_request", "rights_request_step", ["request_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_rights_request_step_request", table_name="rights_request_step")
    op.drop_table("rights_request_step")
    op.drop_index("ix_rights_request_party_party", table_name="rights_request_party")
    op.drop_table("rights_request_party")
    op.drop_index("ix_rights_request_open", table_name="rights_request")
    op.drop_index("ix_rights_request_account", table_name="rights_request")
    op.drop_table("rights_request")

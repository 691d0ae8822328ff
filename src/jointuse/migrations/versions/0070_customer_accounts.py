"""Customers' identities: accounts, links to proven contracts, one-time codes, sessions, events.

Revision ID: 0070_customer_accounts
Revises: 0060_work_orders
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0070_customer_accounts"
down_revision: str | Sequence[str] | None = "0060_work_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _moment(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "customer_account",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        _moment("created_at", nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        _moment("locked_until", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_customer_account"),
        sa.UniqueConstraint("email", name="uq_customer_account_email"),
    )
    op.create_table(
        "account_link",
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("retailer_code", sa.String(64), nullable=False),
        sa.Column("contract_number", sa.String(40), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        _moment("linked_at", nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "customer_id", "supply_point_id", name="pk_account_link"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name="fk_account_link_account_id_customer_account",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name="fk_account_link_customer_id_customer"
        ),
        sa.ForeignKeyConstraint(
            ["supply_point_id"],
            ["supply_point.id"],
            name="fk_account_link_supply_point_id_supply_point",
        ),
    )
    op.create_table(
        "one_time_code",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.String(500), nullable=False),
        _moment("created_at", nullable=False),
        _moment("expires_at", nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _moment("used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_one_time_code"),
    )
    op.create_index("ix_one_time_code_email", "one_time_code", ["email", "created_at"])
    op.create_table(
        "customer_session",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        _moment("created_at", nullable=False),
        _moment("expires_at", nullable=False),
        _moment("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_customer_session"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name="fk_customer_session_account_id_customer_account",
        ),
    )
    op.create_table(
        "identity_event",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(36), nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("source", sa.String(64), nullable=True),
        _moment("at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identity_event"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_identity_event_email_hash", "identity_event", ["email_hash", "at"])


def downgrade() -> None:
    op.drop_table("identity_event")
    op.drop_table("customer_session")
    op.drop_table("one_time_code")
    op.drop_table("account_link")
    op.drop_table("customer_account")

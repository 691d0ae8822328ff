"""Customers' passkeys (WebAuthn credentials) and the challenges of their ceremonies.

Revision ID: 0155_customer_passkeys
Revises: 0150_work_order_staff
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0155_customer_passkeys"
down_revision: str | Sequence[str] | None = "0150_work_order_staff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _moment(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "customer_passkey",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("credential_id", sa.String(1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", _BIGINT, nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        _moment("created_at", nullable=False),
        _moment("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_customer_passkey"),
        sa.UniqueConstraint("credential_id", name="uq_customer_passkey_credential_id"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name="fk_customer_passkey_account_id_customer_account",
        ),
    )
    op.create_index("ix_customer_passkey_account_id", "customer_passkey", ["account_id"])
    op.create_table(
        "passkey_challenge",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("binding_hash", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=True),
        sa.Column("challenge", sa.String(128), nullable=False),
        sa.Column("source", sa.String(64), nullable=True),
        _moment("created_at", nullable=False),
        _moment("expires_at", nullable=False),
        _moment("used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_passkey_challenge"),
        sa.UniqueConstraint("challenge", name="uq_passkey_challenge_challenge"),
    )
    op.create_index("ix_passkey_challenge_source", "passkey_challenge", ["source", "created_at"])
    op.create_index("ix_passkey_challenge_expires_at", "passkey_challenge", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_passkey_challenge_expires_at", table_name="passkey_challenge")
    op.drop_index("ix_passkey_challenge_source", table_name="passkey_challenge")
    op.drop_table("passkey_challenge")
    op.drop_index("ix_customer_passkey_account_id", table_name="customer_passkey")
    op.drop_table("customer_passkey")

"""Usage inquiry by consent: the customer's consents and the provisions made on them.

Revision ID: 0160_usage_inquiry
Revises: 0155_customer_passkeys
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0160_usage_inquiry"
down_revision: str | Sequence[str] | None = "0155_customer_passkeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_consent",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("retailer_code", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("valid_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_salt", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(64), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("live_key", sa.String(160), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_usage_consent"),
        sa.UniqueConstraint("live_key", name="uq_usage_consent_live_key"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name="fk_usage_consent_customer_id_customer"
        ),
        sa.ForeignKeyConstraint(
            ["supply_point_id"],
            ["supply_point.id"],
            name="fk_usage_consent_supply_point_id_supply_point",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_account.id"],
            name="fk_usage_consent_account_id_customer_account",
        ),
    )
    op.create_index("ix_usage_consent_point", "usage_consent", ["supply_point_id", "retailer_code"])
    op.create_table(
        "usage_provision",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("consent_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("acting_user", sa.String(64), nullable=True),
        sa.Column("items", sa.String(200), nullable=False),
        sa.Column("data_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("provided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_usage_provision"),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["usage_consent.id"],
            name="fk_usage_provision_consent_id_usage_consent",
        ),
    )
    op.create_index(
        "ix_usage_provision_customer", "usage_provision", ["customer_id", "supply_point_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_usage_provision_customer", table_name="usage_provision")
    op.drop_table("usage_provision")
    op.drop_index("ix_usage_consent_point", table_name="usage_consent")
    op.drop_table("usage_consent")

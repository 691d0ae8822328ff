"""Messages: webhook pushes and idempotency keys.

Revision ID: 0051_webhooks
Revises: 0070_customer_accounts

* ``party_message`` gains ``push_state`` / ``pushed_at`` and the partial index
  ``ix_party_message_unpushed`` (the messages still to push);
* ``party_webhook`` (one per party: its primary key), ``webhook_failure``;
* ``idempotency_key`` (one row per party and key: its primary key).

See :mod:`jointuse.messages.tables`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0051_webhooks"
down_revision: str | Sequence[str] | None = "0070_customer_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("party_message", sa.Column("push_state", sa.String(8), nullable=True))
    op.add_column("party_message", sa.Column("pushed_at", _MOMENT, nullable=True))
    op.create_index(
        "ix_party_message_unpushed",
        "party_message",
        ["recipient", "id"],
        sqlite_where=sa.text("push_state IS NULL"),
        postgresql_where=sa.text("push_state IS NULL"),
    )
    op.create_table(
        "party_webhook",
        sa.Column("party", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(80), nullable=False),
        sa.Column("from_message_id", _BIGINT, nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("updated_at", _MOMENT, nullable=False),
        sa.Column("next_attempt_at", _MOMENT, nullable=False),
        sa.Column("head_message_id", _BIGINT, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(32), nullable=True),
        sa.Column("lease_until", _MOMENT, nullable=True),
        sa.Column("last_attempt_at", _MOMENT, nullable=True),
        sa.Column("last_success_at", _MOMENT, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered", _BIGINT, nullable=False, server_default="0"),
        sa.Column("failed", _BIGINT, nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["party"], ["party.code"], name="fk_party_webhook_party_party"),
        sa.PrimaryKeyConstraint("party", name="pk_party_webhook"),
    )
    op.create_table(
        "webhook_failure",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("party", sa.String(64), nullable=False),
        sa.Column("message_id", _BIGINT, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("failed_at", _MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_failure"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_failure_party", "webhook_failure", ["party", "id"])
    op.create_table(
        "idempotency_key",
        sa.Column("party", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("route", sa.String(300), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", _MOMENT, nullable=False),
        sa.Column("expires_at", _MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("party", "key", name="pk_idempotency_key"),
    )
    op.create_index("ix_idempotency_key_expires_at", "idempotency_key", ["expires_at"])


def downgrade() -> None:
    op.drop_table("idempotency_key")
    op.drop_table("webhook_failure")
    op.drop_table("party_webhook")
    op.drop_index("ix_party_message_unpushed", table_name="party_message")
    with op.batch_alter_table("party_message") as batch:
        batch.drop_column("pushed_at")
        batch.drop_column("push_state")

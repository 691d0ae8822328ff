"""Web sessions: one row per signed-in browser (customer portal, joint users' console).

Revision ID: 0130_web_sessions
Revises: 0090_dr_consent
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0130_web_sessions"
down_revision: str | Sequence[str] | None = "0090_dr_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=True),
        sa.Column("customer_session_id", sa.String(16), nullable=True),
        sa.Column("party_code", sa.String(64), nullable=True),
        sa.Column("token_id", sa.String(16), nullable=True),
        _moment("created_at", nullable=False),
        _moment("last_seen_at", nullable=False),
        _moment("expires_at", nullable=False),
        _moment("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_web_session"),
    )
    op.create_index("ix_web_session_expires_at", "web_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_web_session_expires_at", table_name="web_session")
    op.drop_table("web_session")

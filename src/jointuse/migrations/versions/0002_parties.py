"""Parties registry (共同利用者の登録簿): parties, status history, API tokens, client certificates.

Revision ID: 0002_parties
Revises: 0001_ledger

Moments are ``timestamp with time zone`` on PostgreSQL and UTC text on SQLite (see
:class:`jointuse.parties.tables.UtcDateTime`). Secrets are never stored: ``api_token.token_hash``
is the SHA-256 (hex) of the bearer token.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_parties"
down_revision: str | Sequence[str] | None = "0001_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _moment(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "party",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name_ja", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("meti_registration", sa.String(8), nullable=True),
        sa.Column("contractor_code", sa.String(32), nullable=True),
        sa.Column("area_code", sa.String(2), nullable=True),
        sa.Column("address", sa.Text(), nullable=False, server_default=""),
        sa.Column("representative", sa.Text(), nullable=False, server_default=""),
        _moment("created_at", nullable=False),
        sa.CheckConstraint(
            "kind IN ('retailer', 'tso', 'occto', 'dr_contractor')", name="kind_known"
        ),
    )
    op.create_index("ix_party_kind", "party", ["kind"])
    op.create_table(
        "party_status",
        sa.Column("id", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column("party_code", sa.String(64), sa.ForeignKey("party.code"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _moment("valid_from", nullable=False),
        _moment("valid_to", nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.UniqueConstraint(
            "party_code", "valid_from", name="uq_party_status_party_code_valid_from"
        ),
        sa.CheckConstraint(
            "status IN ('active', 'suspended', 'deregistered')", name="status_known"
        ),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="period_not_empty"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("party_code", sa.String(64), sa.ForeignKey("party.code"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.Text(), nullable=False, server_default=""),
        _moment("created_at", nullable=False),
        _moment("expires_at", nullable=False),
        _moment("revoked_at", nullable=True),
        sa.CheckConstraint("length(token_hash) = 64", name="token_hash_sha256"),
    )
    op.create_index("ix_api_token_party_code", "api_token", ["party_code"])
    op.create_table(
        "client_certificate",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("party_code", sa.String(64), sa.ForeignKey("party.code"), nullable=False),
        _moment("created_at", nullable=False),
        _moment("revoked_at", nullable=True),
        sa.CheckConstraint("length(fingerprint) = 64", name="fingerprint_sha256"),
    )
    op.create_index("ix_client_certificate_party_code", "client_certificate", ["party_code"])


def downgrade() -> None:
    op.drop_table("client_certificate")
    op.drop_table("api_token")
    op.drop_table("party_status")
    op.drop_table("party")

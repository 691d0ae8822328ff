"""DR agreements confirmed by the customer: state, scope, data period, evidence.

An agreement a contractor registers is a proposal until the customer confirms it
(:mod:`jointuse.negawatt.consent`). Agreements registered before this revision were the
contractor's word alone: they become proposals too, and stop opening data until confirmed.

Revision ID: 0090_dr_consent
Revises: 0020_ledger_auth
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0090_dr_consent"
down_revision: str | Sequence[str] | None = "0020_ledger_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_LIVE = "state IN ('proposed', 'confirmed')"


def upgrade() -> None:
    with op.batch_alter_table("dr_agreement") as batch:
        batch.add_column(
            sa.Column("state", sa.String(16), nullable=False, server_default="proposed")
        )
        batch.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("scope_purposes", sa.String(200), nullable=True))
        batch.add_column(sa.Column("scope_items", sa.String(500), nullable=True))
        batch.add_column(sa.Column("data_from", sa.Date(), nullable=True))
        batch.add_column(sa.Column("data_to", sa.Date(), nullable=True))
        batch.add_column(sa.Column("wording_version", sa.String(16), nullable=True))
        batch.create_check_constraint(
            "ck_dr_agreement_state_known",
            "state IN ('proposed', 'confirmed', 'declined', 'withdrawn')",
        )
        batch.create_check_constraint(
            "ck_dr_agreement_data_period",
            "data_to IS NULL OR data_from IS NULL OR data_to > data_from",
        )
    op.execute("UPDATE dr_agreement SET state = 'withdrawn' WHERE withdrawn_at IS NOT NULL")
    op.create_index(
        "uq_dr_agreement_one_live",
        "dr_agreement",
        ["contractor_code", "customer_id", "supply_point_id"],
        unique=True,
        sqlite_where=sa.text(_LIVE),
        postgresql_where=sa.text(_LIVE),
    )
    op.create_table(
        "dr_consent_evidence",
        sa.Column("id", _BIGINT, nullable=False, autoincrement=True),
        sa.Column("agreement_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("by_kind", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=True),
        sa.Column("party_code", sa.String(64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wording_version", sa.String(16), nullable=False),
        sa.Column("wording_ja", sa.Text(), nullable=False),
        sa.Column("wording_en", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dr_consent_evidence"),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["dr_agreement.id"],
            name="fk_dr_consent_evidence_agreement_id_dr_agreement",
        ),
        sa.CheckConstraint(
            "action IN ('proposed', 'confirmed', 'declined', 'withdrawn')",
            name="ck_dr_consent_evidence_action_known",
        ),
        sa.CheckConstraint(
            "by_kind IN ('customer', 'contractor')", name="ck_dr_consent_evidence_by_kind_known"
        ),
    )
    op.create_index("ix_dr_consent_evidence_agreement_id", "dr_consent_evidence", ["agreement_id"])


def downgrade() -> None:
    op.drop_index("ix_dr_consent_evidence_agreement_id", table_name="dr_consent_evidence")
    op.drop_table("dr_consent_evidence")
    op.drop_index("uq_dr_agreement_one_live", table_name="dr_agreement")
    with op.batch_alter_table("dr_agreement") as batch:
        batch.drop_constraint("ck_dr_agreement_data_period", type_="check")
        batch.drop_constraint("ck_dr_agreement_state_known", type_="check")
        for name in (
            "wording_version",
            "data_to",
            "data_from",
            "scope_items",
            "scope_purposes",
            "confirmed_at",
            "state",
        ):
            batch.drop_column(name)

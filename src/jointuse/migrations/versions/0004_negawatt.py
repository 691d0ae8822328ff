"""Negawatt area: DR agreements, balancing groups, DR resources, meter days, DR events.

Revision ID: 0004_negawatt
Revises: 0003_customers

``dr_agreement`` refers to ``customer`` and ``supply_point`` (hence this revision builds on
``0003_customers``); contractor codes are stored without a foreign key to ``party`` (like the
customer registry). ``meter_day`` has no foreign key: a TSO's delivery may name a point before
the registry knows it. Half-hour values are packed little-endian float64 blobs, one row per point
and JST day (see :mod:`jointuse.negawatt.tables`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_negawatt"
down_revision: str | Sequence[str] | None = "0003_customers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "dr_agreement",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("contractor_code", sa.String(64), nullable=False),
        sa.Column("agreed_on", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        _moment("withdrawn_at", nullable=True),
        _moment("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dr_agreement"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name="fk_dr_agreement_customer_id_customer"
        ),
        sa.ForeignKeyConstraint(
            ["supply_point_id"],
            ["supply_point.id"],
            name="fk_dr_agreement_supply_point_id_supply_point",
        ),
        sa.CheckConstraint(
            "expires_on IS NULL OR expires_on > agreed_on",
            name="ck_dr_agreement_period_not_empty",
        ),
    )
    op.create_index(
        "ix_dr_agreement_point_contractor", "dr_agreement", ["supply_point_id", "contractor_code"]
    )
    op.create_index("ix_dr_agreement_customer_id", "dr_agreement", ["customer_id"])
    op.create_table(
        "balancing_group",
        sa.Column("contractor_code", sa.String(64), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("contractor_code", "code", name="pk_balancing_group"),
    )
    op.create_table(
        "dr_resource",
        sa.Column("contractor_code", sa.String(64), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("agreement_id", sa.String(64), nullable=False),
        sa.Column("balancing_group_code", sa.String(64), nullable=False),
        _moment("registered_at", nullable=False),
        sa.PrimaryKeyConstraint("contractor_code", "supply_point_id", name="pk_dr_resource"),
        sa.ForeignKeyConstraint(
            ["agreement_id"], ["dr_agreement.id"], name="fk_dr_resource_agreement_id_dr_agreement"
        ),
        sa.ForeignKeyConstraint(
            ["contractor_code", "balancing_group_code"],
            ["balancing_group.contractor_code", "balancing_group.code"],
            name="fk_dr_resource_group_balancing_group",
        ),
    )
    op.create_table(
        "meter_day",
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("consumption", sa.LargeBinary(), nullable=False),
        sa.Column("generation", sa.LargeBinary(), nullable=True),
        sa.Column("imported_by", sa.String(64), nullable=False),
        _moment("imported_at", nullable=False),
        sa.PrimaryKeyConstraint("supply_point_id", "day", name="pk_meter_day"),
    )
    op.create_table(
        "dr_event",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("contractor_code", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("first_slot", sa.Integer(), nullable=False),
        sa.Column("last_slot", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        _moment("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dr_event"),
        sa.CheckConstraint(
            "direction IN ('reduce', 'increase')", name="ck_dr_event_direction_known"
        ),
        sa.CheckConstraint(
            "first_slot >= 1 AND last_slot >= first_slot", name="ck_dr_event_slots_ordered"
        ),
    )
    op.create_index("ix_dr_event_contractor_day", "dr_event", ["contractor_code", "day"])
    op.create_table(
        "dr_event_resource",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "supply_point_id", name="pk_dr_event_resource"),
        sa.ForeignKeyConstraint(
            ["event_id"], ["dr_event.id"], name="fk_dr_event_resource_event_id_dr_event"
        ),
    )


def downgrade() -> None:
    op.drop_table("dr_event_resource")
    op.drop_table("dr_event")
    op.drop_table("meter_day")
    op.drop_table("dr_resource")
    op.drop_table("balancing_group")
    op.drop_index("ix_dr_agreement_customer_id", table_name="dr_agreement")
    op.drop_index("ix_dr_agreement_point_contractor", table_name="dr_agreement")
    op.drop_table("dr_agreement")

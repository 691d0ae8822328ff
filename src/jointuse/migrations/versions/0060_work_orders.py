"""Work orders of the TSOs and their scope; feeders (network topology).

Revision ID: 0060_work_orders
Revises: 0052_flow_contract_numbers
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0060_work_orders"
down_revision: str | Sequence[str] | None = "0052_flow_contract_numbers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "work_order",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tso_code", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        _moment("starts_at", nullable=False),
        _moment("ends_at", nullable=False),
        _moment("created_at", nullable=False),
        _moment("closed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_work_order"),
        sa.CheckConstraint("starts_at < ends_at", name="ck_work_order_window_not_empty"),
        sa.CheckConstraint(
            "kind IN ('meter_reading', 'maintenance', 'meter_replacement', 'outage', 'disaster')",
            name="ck_work_order_kind_known",
        ),
    )
    op.create_index("ix_work_order_tso_code", "work_order", ["tso_code", "created_at"])
    op.create_table(
        "work_order_point",
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "supply_point_id", name="pk_work_order_point"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_order.id"], name="fk_work_order_point_order_id_work_order"
        ),
        sa.ForeignKeyConstraint(
            ["supply_point_id"],
            ["supply_point.id"],
            name="fk_work_order_point_supply_point_id_supply_point",
        ),
    )
    op.create_index("ix_work_order_point_supply_point_id", "work_order_point", ["supply_point_id"])
    op.create_table(
        "feeder_point",
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("feeder", sa.String(32), nullable=False),
        sa.Column("tso_code", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("supply_point_id", name="pk_feeder_point"),
        sa.ForeignKeyConstraint(
            ["supply_point_id"],
            ["supply_point.id"],
            name="fk_feeder_point_supply_point_id_supply_point",
        ),
    )
    op.create_index("ix_feeder_point_feeder", "feeder_point", ["tso_code", "feeder"])


def downgrade() -> None:
    op.drop_table("feeder_point")
    op.drop_table("work_order_point")
    op.drop_table("work_order")

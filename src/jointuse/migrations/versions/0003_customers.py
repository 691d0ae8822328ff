"""Customer / supply-point registry: customers, supply points, retail contracts, applications.

Revision ID: 0003_customers
Revises: 0001_ledger

Party codes (``retailer_code``, ``created_by``, ``updated_by``) are stored **without** a foreign
key to ``party``, so this branch does not depend on ``0002_parties`` (see
:mod:`jointuse.customers.tables`). Moments are ``timestamp with time zone`` on PostgreSQL and
naive-UTC ``DATETIME`` on SQLite. Hot-path indexes: contracts by supply point and by customer,
applications by (supply point, retailer).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_customers"
down_revision: str | Sequence[str] | None = "0001_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "customer",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_kana", sa.String(200), nullable=False),
        sa.Column("postal_code", sa.String(8), nullable=False),
        sa.Column("prefecture", sa.String(8), nullable=False),
        sa.Column("address_rest", sa.String(300), nullable=False),
        sa.Column("phone", sa.String(11), nullable=False),
        sa.Column("membership", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        _moment("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer"),
    )
    op.create_table(
        "supply_point",
        sa.Column("id", sa.String(22), primary_key=True),
        sa.Column("area_code", sa.String(2), nullable=False),
        sa.Column("remote_island_tariff", sa.Boolean(), nullable=False),
        sa.Column("capacity_value", sa.Numeric(18, 3), nullable=True),
        sa.Column("capacity_unit", sa.String(4), nullable=True),
        sa.Column("current_limit", sa.Integer(), nullable=True),
        sa.Column("service_menu", sa.String(64), nullable=False),
        sa.Column("power_factor", sa.Integer(), nullable=True),
        sa.Column("supply_method", sa.String(64), nullable=False),
        sa.Column("capacity_determination_method", sa.String(64), nullable=False),
        sa.Column("meter_number", sa.String(64), nullable=True),
        sa.Column("meter_smart", sa.Boolean(), nullable=True),
        sa.Column("meter_multiplier", sa.Integer(), nullable=True),
        sa.Column("lead_in_pole_number", sa.String(64), nullable=True),
        sa.Column("grid_connected_generation", sa.Boolean(), nullable=False),
        sa.Column("wheeling_change_date", sa.Date(), nullable=True),
        sa.Column("meter_reading_day", sa.Integer(), nullable=True),
        sa.Column("contract_state", sa.String(64), nullable=False),
        sa.Column("disconnection_method", sa.String(64), nullable=True),
        sa.Column("updated_by", sa.String(64), nullable=False),
        _moment("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_supply_point"),
        sa.CheckConstraint("area_code = substr(id, 1, 2)", name="ck_supply_point_area_code_of_id"),
    )
    op.create_table(
        "retail_contract",
        sa.Column("retailer_code", sa.String(64), nullable=False),
        sa.Column("contract_number", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("retailer_code", "contract_number", name="pk_retail_contract"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name="fk_retail_contract_customer_id_customer"
        ),
        sa.ForeignKeyConstraint(
            ["supply_point_id"],
            ["supply_point.id"],
            name="fk_retail_contract_supply_point_id_supply_point",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name="ck_retail_contract_period_not_empty",
        ),
    )
    op.create_index("ix_retail_contract_supply_point_id", "retail_contract", ["supply_point_id"])
    op.create_index("ix_retail_contract_customer_id", "retail_contract", ["customer_id"])
    op.create_table(
        "supply_application",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("retailer_code", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        _moment("applied_at", nullable=False),
        _moment("valid_to", nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_supply_application"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name="fk_supply_application_customer_id_customer"
        ),
        sa.ForeignKeyConstraint(
            ["supply_point_id"],
            ["supply_point.id"],
            name="fk_supply_application_supply_point_id_supply_point",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'withdrawn', 'completed')",
            name="ck_supply_application_status_known",
        ),
    )
    op.create_index(
        "ix_supply_application_point_retailer",
        "supply_application",
        ["supply_point_id", "retailer_code"],
    )


def downgrade() -> None:
    op.drop_table("supply_application")
    op.drop_table("retail_contract")
    op.drop_table("supply_point")
    op.drop_table("customer")

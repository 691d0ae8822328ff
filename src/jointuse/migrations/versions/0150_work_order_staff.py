"""Field staff assigned to work orders: an order opens its contacts to the staff assigned.

Revision ID: 0150_work_order_staff
Revises: 0120_pseudonyms
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0150_work_order_staff"
down_revision: str | Sequence[str] | None = "0120_pseudonyms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "work_order_staff",
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("party_code", sa.String(64), nullable=False),
        sa.Column("user_code", sa.String(64), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unassigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("order_id", "party_code", "user_code", name="pk_work_order_staff"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_order.id"], name="fk_work_order_staff_order_id_work_order"
        ),
        sa.ForeignKeyConstraint(
            ["party_code", "user_code"],
            ["party_user.party_code", "party_user.code"],
            name="fk_work_order_staff_party_user",
        ),
    )


def downgrade() -> None:
    op.drop_table("work_order_staff")

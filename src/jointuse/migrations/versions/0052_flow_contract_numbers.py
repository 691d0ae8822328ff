"""A retailer's open switches and move-ins name distinct new contract numbers.

Revision ID: 0052_flow_contract_numbers
Revises: 0050_messages

Two filings by one retailer naming the same new contract number would both be accepted and the
second would fail only at completion (the contract's key): the database refuses the second at
filing (``uq_market_flow_open_contract_number``, a partial unique index over open switches and
move-ins).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0052_flow_contract_numbers"
down_revision: str | Sequence[str] | None = "0050_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "closed_at IS NULL AND kind IN ('switch', 'move_in')"


def upgrade() -> None:
    op.create_index(
        "uq_market_flow_open_contract_number",
        "market_flow",
        ["filed_by", "contract_number"],
        unique=True,
        sqlite_where=sa.text(_OPEN),
        postgresql_where=sa.text(_OPEN),
    )


def downgrade() -> None:
    op.drop_index("uq_market_flow_open_contract_number", table_name="market_flow")

"""Where each joint user is: ``party.country`` (ISO 3166-1 alpha-2, default ``JP``).

Revision ID: 0110_policy_versions
Revises: 0100_rights_requests

A joint user in a foreign country is provision to a third party abroad (APPI Art. 28), which
joint use does not exempt: ``jointuse policy check --database-url …`` flags such a party, and
reads every controller's address and representative from the registry.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0110_policy_versions"
down_revision: str | Sequence[str] | None = "0100_rights_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "party",
        sa.Column("country", sa.String(2), nullable=False, server_default="JP"),
    )


def downgrade() -> None:
    with op.batch_alter_table("party") as batch:
        batch.drop_column("country")

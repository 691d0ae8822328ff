"""People inside parties: users with roles; a token belongs to a user or a named system client.

Tokens issued before this revision become the party's system client ``default``.

Revision ID: 0140_users
Revises: 0130_web_sessions
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0140_users"
down_revision: str | Sequence[str] | None = "0130_web_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "party_user",
        sa.Column("party_code", sa.String(64), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("party_code", "code", name="pk_party_user"),
        sa.ForeignKeyConstraint(
            ["party_code"], ["party.code"], name="fk_party_user_party_code_party"
        ),
        sa.CheckConstraint(
            "role IN ('operator', 'field_staff', 'auditor', 'administrator')",
            name="ck_party_user_role_known",
        ),
    )
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("user_code", sa.String(64), nullable=True))
        batch.add_column(sa.Column("client_name", sa.String(64), nullable=True))
    op.execute("UPDATE api_token SET client_name = 'default'")
    with op.batch_alter_table("api_token") as batch:
        batch.create_check_constraint(
            "ck_api_token_one_holder", "(user_code IS NULL) <> (client_name IS NULL)"
        )
        batch.create_foreign_key(
            "fk_api_token_party_user",
            "party_user",
            ["party_code", "user_code"],
            ["party_code", "code"],
        )


def downgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.drop_constraint("fk_api_token_party_user", type_="foreignkey")
        batch.drop_constraint("ck_api_token_one_holder", type_="check")
        batch.drop_column("client_name")
        batch.drop_column("user_code")
    op.drop_table("party_user")

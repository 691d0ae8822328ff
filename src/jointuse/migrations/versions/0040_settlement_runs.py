"""Negawatt: stored settlement runs; DR events over several days, amended or cancelled.

Revision ID: 0040_settlement_runs
Revises: 0051_webhooks

``dr_event`` gains ``last_day`` (an event runs the same slots on every day ``day..last_day``),
``status`` (``open`` / ``cancelled``) and ``cancelled_at``. A settlement run
(``settlement_run``) keeps its parameters and the identities of its inputs
(``settlement_input``: each meter day as imported, with a digest of its values) and, per
resource and event day, what the settlement found (``settlement_result``). See
:mod:`jointuse.negawatt.tables`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040_settlement_runs"
down_revision: str | Sequence[str] | None = "0051_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("dr_event") as batch:
        batch.add_column(sa.Column("last_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="open"))
        batch.add_column(_moment("cancelled_at", nullable=True))
        batch.create_check_constraint("ck_dr_event_status_known", "status IN ('open', 'cancelled')")
        batch.create_check_constraint(
            "ck_dr_event_days_ordered", "last_day IS NULL OR last_day >= day"
        )
    op.create_table(
        "settlement_run",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("contractor_code", sa.String(64), nullable=False),
        _moment("created_at", nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("inputs_digest", sa.String(64), nullable=False),
        sa.Column("results_digest", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_settlement_run"),
        sa.ForeignKeyConstraint(
            ["event_id"], ["dr_event.id"], name="fk_settlement_run_event_id_dr_event"
        ),
    )
    op.create_index("ix_settlement_run_event_id", "settlement_run", ["event_id"])
    op.create_table(
        "settlement_input",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _moment("imported_at", nullable=False),
        sa.Column("imported_by", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "supply_point_id", "day", name="pk_settlement_input"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["settlement_run.id"], name="fk_settlement_input_run_id_settlement_run"
        ),
    )
    op.create_table(
        "settlement_result",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("balancing_group_code", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("candidate_days", sa.Text(), nullable=False),
        sa.Column("slots", sa.Text(), nullable=False),
        sa.Column("raw_total", sa.String(64), nullable=False),
        sa.Column("settled", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "supply_point_id", "day", name="pk_settlement_result"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["settlement_run.id"], name="fk_settlement_result_run_id_settlement_run"
        ),
    )
    op.create_index(
        "ix_settlement_result_point_day", "settlement_result", ["supply_point_id", "day"]
    )


def downgrade() -> None:
    op.drop_index("ix_settlement_result_point_day", table_name="settlement_result")
    op.drop_table("settlement_result")
    op.drop_table("settlement_input")
    op.drop_index("ix_settlement_run_event_id", table_name="settlement_run")
    op.drop_table("settlement_run")
    with op.batch_alter_table("dr_event") as batch:
        batch.drop_constraint("ck_dr_event_days_ordered", type_="check")
        batch.drop_constraint("ck_dr_event_status_known", type_="check")
        batch.drop_column("cancelled_at")
        batch.drop_column("status")
        batch.drop_column("last_day")

"""Market flows; contracts that cannot overlap; applications replaced by flows.

Revision ID: 0010_flows
Revises: 0005_one_head

* ``market_flow``, ``flow_transition``, ``cancellation_forwarding`` (see
  :mod:`jointuse.flows.tables`), with the partial unique indexes that allow one switch, move-in or
  move-out (and one ampere change) in flight per supply point.
* ``retail_contract``: no two contracts of one supply point overlap in time —
  ``ex_retail_contract_no_overlap``: on PostgreSQL an exclusion constraint over
  ``daterange(valid_from, valid_to)`` (extension ``btree_gist``, for ``=`` on the point ID); on
  SQLite, triggers before insert and update (SQLite writers are serialised, so a trigger's check
  and the write it guards cannot interleave with another writer's).
* ``supply_application`` is dropped: the ``applicant`` relation is now derived from filed
  switches and move-ins (a retailer could open it alone by posting an application).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_flows"
down_revision: str | Sequence[str] | None = "0005_one_head"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = "'switch', 'move_in', 'move_out', 'ampere_change', 'info_change'"
_STATES = (
    "'awaiting_judgement', 'matched', 'awaiting_date', 'awaiting_controller', 'date_fixed', "
    "'completed', 'refused', 'withdrawn', 'expired'"
)
_TERMINAL = "'completed', 'refused', 'withdrawn', 'expired'"
_OPEN_EXCLUSIVE = "closed_at IS NULL AND kind IN ('switch', 'move_in', 'move_out')"
_OPEN_AMPERE = "closed_at IS NULL AND kind = 'ampere_change'"
_OPEN = "closed_at IS NULL"
_NO_OVERLAP = "ex_retail_contract_no_overlap"


def _moment(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _partial(name: str, table: str, columns: list[str], where: str, *, unique: bool) -> None:
    op.create_index(
        name,
        table,
        columns,
        unique=unique,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.create_table(
        "market_flow",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("filed_by", sa.String(64), nullable=False),
        sa.Column("counterpart", sa.String(64), nullable=True),
        sa.Column("customer_id", sa.String(64), nullable=True),
        sa.Column("contract_number", sa.String(40), nullable=True),
        sa.Column("contract_kind", sa.String(32), nullable=True),
        sa.Column("wished_date", sa.Date(), nullable=True),
        sa.Column("fixed_date", sa.Date(), nullable=True),
        sa.Column("meter_work", sa.Boolean(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        _moment("filed_at", nullable=False),
        _moment("deadline", nullable=True),
        _moment("updated_at", nullable=False),
        _moment("closed_at", nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_market_flow"),
        sa.ForeignKeyConstraint(
            ["supply_point_id"],
            ["supply_point.id"],
            name="fk_market_flow_supply_point_id_supply_point",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name="fk_market_flow_customer_id_customer"
        ),
        sa.CheckConstraint(f"kind IN ({_KINDS})", name="ck_market_flow_kind_known"),
        sa.CheckConstraint(f"state IN ({_STATES})", name="ck_market_flow_state_known"),
        sa.CheckConstraint(
            f"(closed_at IS NULL) = (state NOT IN ({_TERMINAL}))",
            name="ck_market_flow_closed_when_terminal",
        ),
    )
    op.create_index("ix_market_flow_supply_point_id", "market_flow", ["supply_point_id"])
    op.create_index("ix_market_flow_customer_id", "market_flow", ["customer_id"])
    op.create_index("ix_market_flow_filed_by", "market_flow", ["filed_by", "filed_at"])
    _partial("ix_market_flow_open_deadline", "market_flow", ["deadline"], _OPEN, unique=False)
    _partial("ix_market_flow_open_fixed_date", "market_flow", ["fixed_date"], _OPEN, unique=False)
    _partial(
        "uq_market_flow_one_in_flight",
        "market_flow",
        ["supply_point_id"],
        _OPEN_EXCLUSIVE,
        unique=True,
    )
    _partial(
        "uq_market_flow_one_ampere_change",
        "market_flow",
        ["supply_point_id", "kind"],
        _OPEN_AMPERE,
        unique=True,
    )

    op.create_table(
        "flow_transition",
        sa.Column("flow_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(24), nullable=True),
        sa.Column("to_state", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        _moment("at", nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("flow_id", "seq", name="pk_flow_transition"),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["market_flow.id"], name="fk_flow_transition_flow_id_market_flow"
        ),
    )

    op.create_table(
        "cancellation_forwarding",
        sa.Column("id", sa.String(20), nullable=False),
        sa.Column("flow_id", sa.String(36), nullable=False),
        sa.Column("old_retailer", sa.String(64), nullable=False),
        sa.Column("old_contract_number", sa.String(40), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_kana", sa.String(200), nullable=True),
        sa.Column("postal_code", sa.String(8), nullable=False),
        sa.Column("prefecture", sa.String(8), nullable=False),
        sa.Column("address_rest", sa.String(300), nullable=False),
        sa.Column("wished_date", sa.Date(), nullable=True),
        _moment("forwarded_at", nullable=False),
        _moment("closed_at", nullable=True),
        sa.Column("result", sa.String(2), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("match", sa.Text(), nullable=True),
        sa.Column("mode", sa.String(8), nullable=True),
        _moment("judged_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cancellation_forwarding"),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["market_flow.id"], name="fk_cancellation_forwarding_flow_id_market_flow"
        ),
        sa.UniqueConstraint("flow_id", name="uq_cancellation_forwarding_flow_id"),
        sa.CheckConstraint(
            "result IS NULL OR result IN ('ok', 'ng')",
            name="ck_cancellation_forwarding_result_known",
        ),
    )
    op.create_index(
        "ix_cancellation_forwarding_old_retailer",
        "cancellation_forwarding",
        ["old_retailer", "forwarded_at"],
    )

    op.create_table(
        "flow_party_setting",
        sa.Column("party", sa.String(64), nullable=False),
        sa.Column("auto_judge", sa.Boolean(), nullable=False),
        _moment("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("party", name="pk_flow_party_setting"),
    )

    op.drop_index("ix_supply_application_point_retailer", table_name="supply_application")
    op.drop_table("supply_application")

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            f"ALTER TABLE retail_contract ADD CONSTRAINT {_NO_OVERLAP} EXCLUDE USING gist "
            "(supply_point_id WITH =, daterange(valid_from, valid_to, '[)') WITH &&)"
        )
    else:
        overlap = (
            "SELECT 1 FROM retail_contract AS o WHERE o.supply_point_id = NEW.supply_point_id"
            " AND NOT (o.retailer_code = NEW.retailer_code"
            " AND o.contract_number = NEW.contract_number)"
            " AND (NEW.valid_to IS NULL OR o.valid_from < NEW.valid_to)"
            " AND (o.valid_to IS NULL OR NEW.valid_from < o.valid_to)"
        )
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER {_NO_OVERLAP}_{event.lower()} BEFORE {event} ON retail_contract"
                f" WHEN EXISTS ({overlap})"
                f" BEGIN SELECT RAISE(ABORT, '{_NO_OVERLAP}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE retail_contract DROP CONSTRAINT {_NO_OVERLAP}")
    else:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER {_NO_OVERLAP}_{event}")
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
    )
    op.create_index(
        "ix_supply_application_point_retailer",
        "supply_application",
        ["supply_point_id", "retailer_code"],
    )
    op.drop_table("flow_party_setting")
    op.drop_table("cancellation_forwarding")
    op.drop_table("flow_transition")
    op.drop_table("market_flow")

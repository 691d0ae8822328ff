"""Tables of the work orders, registered on :data:`jointuse.core.db.metadata` (migration
``0060_work_orders``).

* ``work_order`` — one order of a TSO: kind, reason, time window ``[starts_at, ends_at)``,
  ``closed_at`` once closed (the window ends then);
* ``work_order_point`` — its scope, one row per supply point (an outage of 10,000 points is
  10,000 rows, inserted in one statement); indexed by point, so the relation's query for one
  point reads only the orders containing that point, however many are open elsewhere;
* ``feeder_point`` — the TSO's network topology (配電線): which points a feeder serves, so an
  order can be scoped to a feeder. Not personal data.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Table,
)

from jointuse.core import conflicts
from jointuse.core.db import metadata
from jointuse.customers.tables import Moment

ORDER_KINDS = ("meter_reading", "maintenance", "meter_replacement", "outage", "disaster")

work_order = Table(
    "work_order",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tso_code", String(64), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("starts_at", Moment(), nullable=False),
    Column("ends_at", Moment(), nullable=False),
    Column("created_at", Moment(), nullable=False),
    Column("closed_at", Moment(), nullable=True),
    CheckConstraint("starts_at < ends_at", name="window_not_empty"),
    CheckConstraint(
        "kind IN ('meter_reading', 'maintenance', 'meter_replacement', 'outage', 'disaster')",
        name="kind_known",
    ),
    Index("ix_work_order_tso_code", "tso_code", "created_at"),
)

work_order_point = Table(
    "work_order_point",
    metadata,
    Column("order_id", String(36), ForeignKey("work_order.id"), primary_key=True),
    Column("supply_point_id", String(22), ForeignKey("supply_point.id"), primary_key=True),
    Index("ix_work_order_point_supply_point_id", "supply_point_id"),
)

feeder_point = Table(
    "feeder_point",
    metadata,
    Column("supply_point_id", String(22), ForeignKey("supply_point.id"), primary_key=True),
    Column("feeder", String(32), nullable=False),
    Column("tso_code", String(64), nullable=False),
    Index("ix_feeder_point_feeder", "tso_code", "feeder"),
)

conflicts.rule("pk_work_order_point", "a supply point is in an order's scope once")
conflicts.rule("pk_work_order", "a work order ID is used once")


work_order_staff = Table(
    "work_order_staff",
    metadata,
    Column("order_id", String(36), ForeignKey("work_order.id"), primary_key=True),
    Column("party_code", String(64), primary_key=True),
    Column("user_code", String(64), primary_key=True),
    Column("assigned_at", Moment(), nullable=False),
    Column("unassigned_at", Moment(), nullable=True),
    ForeignKeyConstraint(
        ["party_code", "user_code"],
        ["party_user.party_code", "party_user.code"],
        name="fk_work_order_staff_party_user",
    ),
)
"""Field staff assigned to an order (作業指示の担当者; migration ``0150_work_order_staff``): the
order opens its contacts to them (:mod:`jointuse.workorders.staff`)."""

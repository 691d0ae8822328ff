"""Tables of the negawatt area (ネガワット取引), on :data:`jointuse.core.db.metadata`.

The DDL is migration ``0004_negawatt``; this module mirrors it for queries. Only
:mod:`jointuse.negawatt.repository` touches these tables, and every read or write of personal
data in them goes through :mod:`jointuse.access.gate` (see :mod:`jointuse.negawatt.service`).

``dr_agreement``
    The customer's DR agreement (需要抑制に関する契約) with a contractor for one supply point:
    ``agreed_on`` (JST day, inclusive), ``expires_on`` (JST day, exclusive, NULL = open),
    ``withdrawn_at`` (the moment the customer withdrew; the relation ends then). It is what
    makes the ``dr_resource`` relation hold.
``balancing_group`` / ``dr_resource``
    Resources (supply points under an agreement) grouped per contractor (バランシンググループ).
``meter_day``
    One row per supply point and JST day: ``consumption`` and ``generation`` are the day's
    ``slots`` values packed as little-endian float64 (``slots × 8`` bytes; NaN = missing).
``dr_event`` / ``dr_event_resource``
    A DR event: contractor, day, slots ``first_slot..last_slot`` (1-based, inclusive, JST),
    direction ``reduce`` or ``increase``, and the resources it covers.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from jointuse.core.db import metadata
from jointuse.customers.tables import Moment

dr_agreement = Table(
    "dr_agreement",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("customer_id", String(64), ForeignKey("customer.id"), nullable=False),
    Column("supply_point_id", String(22), ForeignKey("supply_point.id"), nullable=False),
    Column("contractor_code", String(64), nullable=False),
    Column("agreed_on", Date, nullable=False),
    Column("scope", String(200), nullable=False),
    Column("expires_on", Date, nullable=True),
    Column("withdrawn_at", Moment, nullable=True),
    Column("created_at", Moment, nullable=False),
    CheckConstraint("expires_on IS NULL OR expires_on > agreed_on", name="period_not_empty"),
)
Index(
    "ix_dr_agreement_point_contractor",
    dr_agreement.c.supply_point_id,
    dr_agreement.c.contractor_code,
)
Index("ix_dr_agreement_customer_id", dr_agreement.c.customer_id)

balancing_group = Table(
    "balancing_group",
    metadata,
    Column("contractor_code", String(64), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
)

dr_resource = Table(
    "dr_resource",
    metadata,
    Column("contractor_code", String(64), primary_key=True),
    Column("supply_point_id", String(22), primary_key=True),
    Column("agreement_id", String(64), ForeignKey("dr_agreement.id"), nullable=False),
    Column("balancing_group_code", String(64), nullable=False),
    Column("registered_at", Moment, nullable=False),
    ForeignKeyConstraint(
        ["contractor_code", "balancing_group_code"],
        ["balancing_group.contractor_code", "balancing_group.code"],
        name="fk_dr_resource_group_balancing_group",
    ),
)

meter_day = Table(
    "meter_day",
    metadata,
    Column("supply_point_id", String(22), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("slots", Integer, nullable=False),
    Column("consumption", LargeBinary, nullable=False),
    Column("generation", LargeBinary, nullable=True),
    Column("imported_by", String(64), nullable=False),
    Column("imported_at", Moment, nullable=False),
)

dr_event = Table(
    "dr_event",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("contractor_code", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("first_slot", Integer, nullable=False),
    Column("last_slot", Integer, nullable=False),
    Column("direction", String(8), nullable=False),
    Column("created_at", Moment, nullable=False),
    CheckConstraint("direction IN ('reduce', 'increase')", name="direction_known"),
    CheckConstraint("first_slot >= 1 AND last_slot >= first_slot", name="slots_ordered"),
)
Index("ix_dr_event_contractor_day", dr_event.c.contractor_code, dr_event.c.day)

dr_event_resource = Table(
    "dr_event_resource",
    metadata,
    Column("event_id", String(64), ForeignKey("dr_event.id"), primary_key=True),
    Column("supply_point_id", String(22), primary_key=True),
)

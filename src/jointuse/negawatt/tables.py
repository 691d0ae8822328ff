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
    A DR event: contractor, days ``day..last_day`` (``last_day`` NULL = one day; migration
    ``0040_settlement_runs``), the same slots ``first_slot..last_slot`` on each (1-based,
    inclusive, JST), direction ``reduce`` or ``increase``, ``status`` ``open`` or ``cancelled``,
    and the resources it covers.
``settlement_run`` / ``settlement_input`` / ``settlement_result``
    A stored settlement of one event: its parameters (JSON: baseline method and rules, rounding,
    resolution, policy version), digests of its inputs and results, and its totals per balancing
    group and contractor (``summary``, JSON); the meter days it read, as imported (who, when, a
    SHA-256 of the values); and per resource and event day: status and reason, the candidate
    days with what became of each (JSON), per slot the unadjusted baseline, adjustment,
    baseline, actual and suppression (JSON, kWh as decimal strings), the exact day total and the
    settled amount (decimal strings).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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
    Text,
    text,
)

from jointuse.core import conflicts
from jointuse.core.db import metadata
from jointuse.customers.tables import Moment

_BIGINT = BigInteger().with_variant(Integer(), "sqlite")

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
    # Migration 0090_dr_consent: the customer's confirmation (see jointuse.negawatt.consent).
    Column("state", String(16), nullable=False, server_default="proposed"),
    Column("confirmed_at", Moment, nullable=True),
    Column("scope_purposes", String(200), nullable=True),
    Column("scope_items", String(500), nullable=True),
    Column("data_from", Date, nullable=True),
    Column("data_to", Date, nullable=True),
    Column("wording_version", String(16), nullable=True),
    CheckConstraint("expires_on IS NULL OR expires_on > agreed_on", name="period_not_empty"),
    CheckConstraint(
        "state IN ('proposed', 'confirmed', 'declined', 'withdrawn')", name="state_known"
    ),
    CheckConstraint(
        "data_to IS NULL OR data_from IS NULL OR data_to > data_from", name="data_period"
    ),
)
Index(
    "ix_dr_agreement_point_contractor",
    dr_agreement.c.supply_point_id,
    dr_agreement.c.contractor_code,
)
Index("ix_dr_agreement_customer_id", dr_agreement.c.customer_id)
_LIVE = "state IN ('proposed', 'confirmed')"
Index(
    "uq_dr_agreement_one_live",
    dr_agreement.c.contractor_code,
    dr_agreement.c.customer_id,
    dr_agreement.c.supply_point_id,
    unique=True,
    sqlite_where=text(_LIVE),
    postgresql_where=text(_LIVE),
)
ONE_LIVE_AGREEMENT = conflicts.rule(
    "uq_dr_agreement_one_live",
    "one proposed or confirmed DR agreement per contractor, customer and supply point",
)

dr_consent_evidence = Table(
    "dr_consent_evidence",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("agreement_id", String(64), ForeignKey("dr_agreement.id"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("by_kind", String(16), nullable=False),
    Column("account_id", String(36), nullable=True),
    Column("party_code", String(64), nullable=True),
    Column("at", Moment, nullable=False),
    Column("wording_version", String(16), nullable=False),
    Column("wording_ja", Text, nullable=False),
    Column("wording_en", Text, nullable=False),
    Column("scope", Text, nullable=False),
    CheckConstraint(
        "action IN ('proposed', 'confirmed', 'declined', 'withdrawn')", name="action_known"
    ),
    CheckConstraint("by_kind IN ('customer', 'contractor')", name="by_kind_known"),
)
"""The evidence of each step of a DR agreement: who (the customer's account, or the
contractor), when, the wording shown (ja/en) and its version, the scope (JSON)."""
Index("ix_dr_consent_evidence_agreement_id", dr_consent_evidence.c.agreement_id)

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
    Column("last_day", Date, nullable=True),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("cancelled_at", Moment, nullable=True),
    CheckConstraint("direction IN ('reduce', 'increase')", name="direction_known"),
    CheckConstraint("first_slot >= 1 AND last_slot >= first_slot", name="slots_ordered"),
    CheckConstraint("status IN ('open', 'cancelled')", name="status_known"),
    CheckConstraint("last_day IS NULL OR last_day >= day", name="days_ordered"),
)
Index("ix_dr_event_contractor_day", dr_event.c.contractor_code, dr_event.c.day)

dr_event_resource = Table(
    "dr_event_resource",
    metadata,
    Column("event_id", String(64), ForeignKey("dr_event.id"), primary_key=True),
    Column("supply_point_id", String(22), primary_key=True),
)

settlement_run = Table(
    "settlement_run",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("event_id", String(64), ForeignKey("dr_event.id"), nullable=False, index=True),
    Column("contractor_code", String(64), nullable=False),
    Column("created_at", Moment, nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("params", Text, nullable=False),
    Column("inputs_digest", String(64), nullable=False),
    Column("results_digest", String(64), nullable=False),
    Column("summary", Text, nullable=False),
)

settlement_input = Table(
    "settlement_input",
    metadata,
    Column("run_id", String(64), ForeignKey("settlement_run.id"), primary_key=True),
    Column("supply_point_id", String(22), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("imported_at", Moment, nullable=False),
    Column("imported_by", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
)

settlement_result = Table(
    "settlement_result",
    metadata,
    Column("run_id", String(64), ForeignKey("settlement_run.id"), primary_key=True),
    Column("supply_point_id", String(22), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("balancing_group_code", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("candidate_days", Text, nullable=False),
    Column("slots", Text, nullable=False),
    Column("raw_total", String(64), nullable=False),
    Column("settled", String(32), nullable=False),
)
Index(
    "ix_settlement_result_point_day", settlement_result.c.supply_point_id, settlement_result.c.day
)

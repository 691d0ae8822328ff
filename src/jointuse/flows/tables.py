"""Tables of the market flows, registered on :data:`jointuse.core.db.metadata`.

The DDL is migration ``0010_flows``; this module mirrors it for queries. Only
:mod:`jointuse.flows.repository` touches these tables.

* ``market_flow`` — one row per flow (switch, move-in, move-out, ampere change, information
  change): its kind, state, point, filer, counterpart, dates, deadline and ``version`` (bumped by
  every transition: a step updates ``WHERE version = :seen``, so of two concurrent steps on one
  flow exactly one wins). ``closed_at`` is set exactly when the state is terminal.
* ``flow_transition`` — every transition (who, when, which step, why), numbered per flow.
* ``cancellation_forwarding`` — the 廃止取次 of a switch: what the new retailer forwarded to the
  old retailer (personal data: read only through the gate) and the old retailer's judgement.

Rules the database enforces (both backends; their names are the 409's ``rule``):

* ``uq_market_flow_one_in_flight`` — at most one switch, move-in or move-out in flight per
  supply point (a partial unique index over open flows of those kinds);
* ``uq_market_flow_one_ampere_change`` — at most one ampere change in flight per point;
* ``uq_market_flow_open_contract_number`` — a retailer's open switches and move-ins name
  distinct new contract numbers (and, checked at filing, none already in use:
  ``pk_retail_contract``);
* ``uq_cancellation_forwarding_flow_id`` — one 廃止取次 per switch.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from jointuse.core import conflicts
from jointuse.core.db import metadata
from jointuse.customers.tables import Moment

FLOW_KINDS = ("switch", "move_in", "move_out", "ampere_change", "info_change")
FLOW_STATES = (
    "awaiting_judgement",
    "matched",
    "awaiting_date",
    "awaiting_controller",
    "date_fixed",
    "completed",
    "refused",
    "withdrawn",
    "expired",
)
TERMINAL_STATES = ("completed", "refused", "withdrawn", "expired")
EXCLUSIVE_KINDS = ("switch", "move_in", "move_out")

_OPEN_EXCLUSIVE = "closed_at IS NULL AND kind IN ('switch', 'move_in', 'move_out')"
_OPEN_AMPERE = "closed_at IS NULL AND kind = 'ampere_change'"
_OPEN = "closed_at IS NULL"
_OPEN_STARTS = "closed_at IS NULL AND kind IN ('switch', 'move_in')"


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


market_flow = Table(
    "market_flow",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("state", String(24), nullable=False),
    Column("supply_point_id", String(22), ForeignKey("supply_point.id"), nullable=False),
    Column("filed_by", String(64), nullable=False),
    Column("counterpart", String(64), nullable=True),
    Column("customer_id", String(64), ForeignKey("customer.id"), nullable=True),
    Column("contract_number", String(40), nullable=True),
    Column("contract_kind", String(32), nullable=True),
    Column("wished_date", Date(), nullable=True),
    Column("fixed_date", Date(), nullable=True),
    Column("meter_work", Boolean(), nullable=False),
    Column("details", Text(), nullable=False),
    Column("filed_at", Moment(), nullable=False),
    Column("deadline", Moment(), nullable=True),
    Column("updated_at", Moment(), nullable=False),
    Column("closed_at", Moment(), nullable=True),
    Column("version", Integer(), nullable=False),
    CheckConstraint(f"kind IN ({_in(FLOW_KINDS)})", name="kind_known"),
    CheckConstraint(f"state IN ({_in(FLOW_STATES)})", name="state_known"),
    CheckConstraint(
        f"(closed_at IS NULL) = (state NOT IN ({_in(TERMINAL_STATES)}))",
        name="closed_when_terminal",
    ),
    Index("ix_market_flow_supply_point_id", "supply_point_id"),
    Index("ix_market_flow_customer_id", "customer_id"),
    Index("ix_market_flow_filed_by", "filed_by", "filed_at"),
    Index(
        "ix_market_flow_open_deadline",
        "deadline",
        sqlite_where=text(_OPEN),
        postgresql_where=text(_OPEN),
    ),
    Index(
        "ix_market_flow_open_fixed_date",
        "fixed_date",
        sqlite_where=text(_OPEN),
        postgresql_where=text(_OPEN),
    ),
    Index(
        "uq_market_flow_one_in_flight",
        "supply_point_id",
        unique=True,
        sqlite_where=text(_OPEN_EXCLUSIVE),
        postgresql_where=text(_OPEN_EXCLUSIVE),
    ),
    Index(
        "uq_market_flow_open_contract_number",
        "filed_by",
        "contract_number",
        unique=True,
        sqlite_where=text(_OPEN_STARTS),
        postgresql_where=text(_OPEN_STARTS),
    ),
    Index(
        "uq_market_flow_one_ampere_change",
        "supply_point_id",
        "kind",
        unique=True,
        sqlite_where=text(_OPEN_AMPERE),
        postgresql_where=text(_OPEN_AMPERE),
    ),
)

flow_transition = Table(
    "flow_transition",
    metadata,
    Column("flow_id", String(36), ForeignKey("market_flow.id"), primary_key=True),
    Column("seq", Integer(), primary_key=True, autoincrement=False),
    Column("step", String(16), nullable=False),
    Column("from_state", String(24), nullable=True),
    Column("to_state", String(24), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", Moment(), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("details", Text(), nullable=False),
)

cancellation_forwarding = Table(
    "cancellation_forwarding",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("flow_id", String(36), ForeignKey("market_flow.id"), nullable=False, unique=True),
    Column("old_retailer", String(64), nullable=False),
    Column("old_contract_number", String(40), nullable=False),
    Column("name", String(100), nullable=False),
    Column("name_kana", String(200), nullable=True),
    Column("postal_code", String(8), nullable=False),
    Column("prefecture", String(8), nullable=False),
    Column("address_rest", String(300), nullable=False),
    Column("wished_date", Date(), nullable=True),
    Column("forwarded_at", Moment(), nullable=False),
    Column("closed_at", Moment(), nullable=True),
    Column("result", String(2), nullable=True),
    Column("reasons", Text(), nullable=False),
    Column("match", Text(), nullable=True),
    Column("mode", String(8), nullable=True),
    Column("judged_at", Moment(), nullable=True),
    CheckConstraint("result IS NULL OR result IN ('ok', 'ng')", name="result_known"),
    Index("ix_cancellation_forwarding_old_retailer", "old_retailer", "forwarded_at"),
)

flow_party_setting = Table(
    "flow_party_setting",
    metadata,
    Column("party", String(64), primary_key=True),
    Column("auto_judge", Boolean(), nullable=False),
    Column("updated_at", Moment(), nullable=False),
)
"""A retailer's choice to have the 廃止取次 addressed to it judged automatically."""

ONE_IN_FLIGHT = conflicts.rule(
    "uq_market_flow_one_in_flight",
    "one switch, move-in or move-out in flight per supply point",
)
ONE_AMPERE_CHANGE = conflicts.rule(
    "uq_market_flow_one_ampere_change", "one ampere change in flight per supply point"
)
conflicts.rule("uq_cancellation_forwarding_flow_id", "one cancellation forwarding per switch")
conflicts.rule(
    "uq_market_flow_open_contract_number",
    "a retailer's open switches and move-ins name distinct new contract numbers",
)
conflicts.rule("pk_market_flow", "a flow ID is used once")
conflicts.rule("pk_cancellation_forwarding", "a cancellation forwarding number is used once")
conflicts.rule("pk_flow_party_setting", "one switching setting per party")

"""Tables of the customer / supply-point registry, registered on :data:`jointuse.core.db.metadata`.

The DDL is migration ``0003_customers``; this module mirrors it for queries. Only
:mod:`jointuse.customers.repository` (and the gate's loaders built on it) touches these tables:
every read or write of the personal data in them goes through :mod:`jointuse.access.gate`.

Choices:

* **Party codes are stored without a foreign key** to the ``party`` table (``retailer_code``,
  ``created_by``): the registry stays decoupled from the parties area (its migration branches
  off ``0001_ledger`` on its own), and a party's status is judged by the gate at each access
  (a suspended retailer's contracts stay on record; it simply sees nothing).
* **Coded values are stored as codes** (value-set codes, ``contract_kind``), checked by the
  domain model before insert, so the official code tables can replace ours without a migration.
* **Days are JST dates** (``valid_from`` inclusive, ``valid_to`` exclusive, NULL = open), like
  :class:`~jointuse.customers.model.RetailContract`; moments are timezone-aware timestamps.
* **Hot-path indexes**: supply point by id (its primary key), contracts by ``supply_point_id``
  and by ``customer_id``.
* **Rules** (409 naming them, :mod:`jointuse.core.conflicts`): contracts of a point never
  overlap; a retailer's contract numbers, customer IDs and supply point IDs are unique.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect

from jointuse.core import conflicts
from jointuse.core.db import metadata


class Moment(TypeDecorator[datetime]):
    """A timezone-aware moment: ``timestamp with time zone`` on PostgreSQL; on SQLite (which
    keeps no offset) stored as naive UTC and read back with ``tzinfo=UTC``. Naive input is
    refused: every moment in the registry is aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"moment {value!r} must be a timezone-aware datetime")
        if dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment


customer = Table(
    "customer",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("name_kana", String(200), nullable=False),
    Column("postal_code", String(8), nullable=False),
    Column("prefecture", String(8), nullable=False),
    Column("address_rest", String(300), nullable=False),
    Column("phone", String(11), nullable=False),
    Column("membership", String(16), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Moment(), nullable=False),
)

supply_point = Table(
    "supply_point",
    metadata,
    Column("id", String(22), primary_key=True),
    Column("area_code", String(2), nullable=False),
    Column("remote_island_tariff", Boolean(), nullable=False),
    Column("capacity_value", Numeric(18, 3), nullable=True),
    Column("capacity_unit", String(4), nullable=True),
    Column("current_limit", Integer(), nullable=True),
    Column("service_menu", String(64), nullable=False),
    Column("power_factor", Integer(), nullable=True),
    Column("supply_method", String(64), nullable=False),
    Column("capacity_determination_method", String(64), nullable=False),
    Column("meter_number", String(64), nullable=True),
    Column("meter_smart", Boolean(), nullable=True),
    Column("meter_multiplier", Integer(), nullable=True),
    Column("lead_in_pole_number", String(64), nullable=True),
    Column("grid_connected_generation", Boolean(), nullable=False),
    Column("wheeling_change_date", Date(), nullable=True),
    Column("meter_reading_day", Integer(), nullable=True),
    Column("contract_state", String(64), nullable=False),
    Column("disconnection_method", String(64), nullable=True),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", Moment(), nullable=False),
    CheckConstraint("area_code = substr(id, 1, 2)", name="area_code_of_id"),
)

retail_contract = Table(
    "retail_contract",
    metadata,
    Column("retailer_code", String(64), primary_key=True),
    Column("contract_number", String(40), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("customer_id", String(64), ForeignKey("customer.id"), nullable=False),
    Column("supply_point_id", String(22), ForeignKey("supply_point.id"), nullable=False),
    Column("valid_from", Date(), nullable=False),
    Column("valid_to", Date(), nullable=True),
    CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="period_not_empty"),
    Index("ix_retail_contract_supply_point_id", "supply_point_id"),
    Index("ix_retail_contract_customer_id", "customer_id"),
)


#: No two retail contracts of one supply point overlap in time (migration ``0010_flows``: an
#: exclusion constraint on PostgreSQL, triggers on SQLite). Contracts begin and end only through
#: completed flows (a switch, a move-in or -out) and the operator's import at go-live.
NO_OVERLAP = conflicts.rule(
    "ex_retail_contract_no_overlap",
    "no two retail contracts of one supply point may overlap in time",
)
conflicts.rule("pk_retail_contract", "a retailer uses each contract number once")
conflicts.rule("pk_customer", "a customer ID is registered once")
conflicts.rule("pk_supply_point", "a supply point is registered once")

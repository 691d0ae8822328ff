"""Tables of the usage inquiry by consent (migration ``0160_usage_inquiry``).

* ``usage_consent`` — a customer's consent that one retailer reads their usage: the password's
  hash (never the password), its validity (1, 7 or 31 days), withdrawal, failed password attempts
  and the lock after too many; ``live_key`` (customer, point, retailer) while it can be used, so
  that at most one consent is live per customer, point and retailer (a unique key);
* ``usage_provision`` — each provision made on a consent (APPI Art. 29 record): the consent it
  relied on, the recipient and the person acting for it, the items, the data period, when.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from jointuse.core import conflicts
from jointuse.core.db import metadata
from jointuse.customers.tables import Moment

usage_consent = Table(
    "usage_consent",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("customer_id", String(64), ForeignKey("customer.id"), nullable=False),
    Column("supply_point_id", String(22), ForeignKey("supply_point.id"), nullable=False),
    Column("retailer_code", String(64), nullable=False),
    Column("account_id", String(36), ForeignKey("customer_account.id"), nullable=False),
    Column("valid_days", Integer(), nullable=False),
    Column("created_at", Moment(), nullable=False),
    Column("expires_at", Moment(), nullable=False),
    Column("withdrawn_at", Moment(), nullable=True),
    Column("password_salt", String(32), nullable=False),
    Column("password_hash", String(64), nullable=False),
    Column("failed_attempts", Integer(), nullable=False),
    Column("locked_at", Moment(), nullable=True),
    Column("live_key", String(160), nullable=True, unique=True),
    Index("ix_usage_consent_point", "supply_point_id", "retailer_code"),
)

usage_provision = Table(
    "usage_provision",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("consent_id", String(36), ForeignKey("usage_consent.id"), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("supply_point_id", String(22), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("acting_user", String(64), nullable=True),
    Column("items", String(200), nullable=False),
    Column("data_from", Moment(), nullable=True),
    Column("data_to", Moment(), nullable=True),
    Column("days", Integer(), nullable=False),
    Column("provided_at", Moment(), nullable=False),
    Column("request_id", String(200), nullable=False),
    Index("ix_usage_provision_customer", "customer_id", "supply_point_id"),
)

LIVE_RULE = conflicts.rule(
    "uq_usage_consent_live_key",
    "at most one live usage-inquiry consent per customer, supply point and retailer: "
    "withdraw the one you gave first",
)

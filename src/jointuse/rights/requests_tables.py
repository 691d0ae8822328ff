"""Tables of the customers' rights requests (migration ``0100_rights_requests``).

* ``rights_request`` — one request of a customer's account: its kind (disclosure 開示, correction
  訂正, stop-use/erasure 利用停止・消去), state, deadline (``due_at``), what was asked
  (``detail``, JSON), the outcome and, for a disclosure, the document prepared (``document``);
* ``rights_request_party`` — each joint user a request is routed or propagated to: the controller
  of a correction, every holder of a stop-use; its answer (accepted, refused with reasons,
  confirmed) and when;
* ``rights_request_step`` — every step of every request (who, when, from which state to which),
  each also on the access ledger.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from jointuse.core.db import metadata
from jointuse.customers.tables import Moment

_BIGINT = BigInteger().with_variant(Integer(), "sqlite")

rights_request = Table(
    "rights_request",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(36), ForeignKey("customer_account.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(24), nullable=False),
    Column("received_at", Moment(), nullable=False),
    Column("due_at", Moment(), nullable=False),
    Column("completed_at", Moment(), nullable=True),
    Column("detail", Text(), nullable=False),
    Column("outcome", Text(), nullable=True),
    Column("document_format", String(8), nullable=True),
    Column("document", LargeBinary(), nullable=True),
    CheckConstraint("kind IN ('disclosure', 'correction', 'stop_use')", name="kind"),
    Index("ix_rights_request_account", "account_id", "received_at"),
    Index("ix_rights_request_open", "state", "due_at"),
)

rights_request_party = Table(
    "rights_request_party",
    metadata,
    Column("request_id", String(36), ForeignKey("rights_request.id"), primary_key=True),
    Column("party_code", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("answered_at", Moment(), nullable=True),
    Column("reason", Text(), nullable=True),
    Index("ix_rights_request_party_party", "party_code", "state"),
)

rights_request_step = Table(
    "rights_request_step",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("request_id", String(36), ForeignKey("rights_request.id"), nullable=False),
    Column("at", Moment(), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("step", String(32), nullable=False),
    Column("state_from", String(24), nullable=True),
    Column("state_to", String(24), nullable=False),
    Column("note", Text(), nullable=True),
    Index("ix_rights_request_step_request", "request_id", "id"),
    sqlite_autoincrement=True,
)

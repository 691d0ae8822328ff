"""Tables of the messages area, registered on :data:`jointuse.core.db.metadata`.

``party_message`` — one row per message to one party: its kind, the references it is about
(``subject_ref``: a flow ID, a supply point ID …), a small body of states, the moment it was
written and the moment the recipient acknowledged it. The ``id`` orders a party's inbox and is
the cursor of a peek. Messages carry references and states, never personal data (see
:mod:`jointuse.messages.service`). DDL: migration ``0050_messages``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, text

from jointuse.core.db import metadata
from jointuse.customers.tables import Moment

_BIGINT = BigInteger().with_variant(Integer(), "sqlite")

party_message = Table(
    "party_message",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("recipient", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject_ref", Text(), nullable=False),
    Column("body", Text(), nullable=False),
    Column("created_at", Moment(), nullable=False),
    Column("acked_at", Moment(), nullable=True),
    Index("ix_party_message_recipient", "recipient", "id"),
    Index(
        "ix_party_message_unacked",
        "recipient",
        "id",
        sqlite_where=text("acked_at IS NULL"),
        postgresql_where=text("acked_at IS NULL"),
    ),
    sqlite_autoincrement=True,
)

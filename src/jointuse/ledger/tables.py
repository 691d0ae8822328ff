"""Tables of the access ledger, registered on :data:`jointuse.core.db.metadata`.

The DDL (with the append-only triggers) is migration ``0001_ledger``; this module mirrors it for
queries. Only ``entry`` is written on insert; the descriptive columns are *generated* from it by
the database, so they can never disagree with the hashed ``entry``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from jointuse.core.db import JsonField, metadata

_BIGINT = BigInteger().with_variant(Integer(), "sqlite")


def _generated(name: str, *, as_json: bool = False) -> Column[str]:
    return Column(
        name,
        Text(),
        Computed(JsonField("entry", name, as_json=as_json), persisted=True),
        index=name in ("party", "supply_point_id", "customer_id", "recorded_at", "request_id"),
    )


access_ledger = Table(
    "access_ledger",
    metadata,
    Column("seq", _BIGINT, primary_key=True, autoincrement=True),
    Column("entry", Text(), nullable=False),
    Column("chain_pos", BigInteger(), nullable=True),
    Column("prev_hash", String(64), nullable=True),
    Column("hash", String(64), nullable=True),
    _generated("recorded_at"),
    _generated("party"),
    _generated("purpose"),
    _generated("action"),
    _generated("supply_point_id"),
    _generated("customer_id"),
    _generated("decision"),
    _generated("rule_id"),
    _generated("request_id"),
    _generated("items_granted", as_json=True),
    _generated("items_refused", as_json=True),
    UniqueConstraint("chain_pos"),
    CheckConstraint(
        "(chain_pos IS NULL AND prev_hash IS NULL AND hash IS NULL)"
        " OR (chain_pos IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL"
        " AND chain_pos >= 1 AND length(prev_hash) = 64 AND length(hash) = 64)",
        name="sealed_together",
    ),
    sqlite_autoincrement=True,
)

ledger_checkpoint = Table(
    "ledger_checkpoint",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("chain_pos", BigInteger(), nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("signed_at", String(32), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    CheckConstraint("chain_pos >= 0", name="chain_pos_not_negative"),
    sqlite_autoincrement=True,
)

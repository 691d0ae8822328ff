"""Tables of the access ledger, registered on :data:`jointuse.core.db.metadata`.

The DDL (with the insert-only triggers, the ``CHECK`` that ties the descriptive columns to
``entry``, and the view ``access_ledger_chain``) is migration ``0001_ledger``; the MAC columns
and the partial index of authenticated seals are ``0020_ledger_auth``. This module mirrors them
for queries. Every table here is insert-only: an entry is written once (``access_ledger``), its
seal once (``access_ledger_seal``), a checkpoint once (``ledger_checkpoint``).

``access_ledger.mac`` is the entry's MAC and ``access_ledger_seal.mac`` the seal MAC of the last
seal of a sealing run (:mod:`jointuse.ledger.keys`); NULL when written without the ledger key.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from jointuse.core.db import metadata

_BIGINT = BigInteger().with_variant(Integer(), "sqlite")

TEXT_FIELDS = (
    "recorded_at",
    "party",
    "purpose",
    "action",
    "decision",
    "supply_point_id",
    "customer_id",
    "rule_id",
    "request_id",
)
"""Descriptive columns holding the entry's scalar fields (as in the canonical JSON)."""
JSON_FIELDS = ("items_granted", "items_refused")
"""Descriptive columns holding the compact JSON text of the entry's arrays."""
_REQUIRED = ("recorded_at", "party", "purpose", "action", "decision", *JSON_FIELDS)
_INDEXED = ("party", "supply_point_id", "customer_id")

access_ledger = Table(
    "access_ledger",
    metadata,
    Column("seq", _BIGINT, primary_key=True, autoincrement=True),
    Column("entry", Text(), nullable=False),
    *(
        Column(name, Text(), nullable=name not in _REQUIRED, index=name in _INDEXED)
        for name in TEXT_FIELDS
    ),
    *(Column(name, Text(), nullable=False) for name in JSON_FIELDS),
    Column("mac", Text(), nullable=True),
    sqlite_autoincrement=True,
)

access_ledger_seal = Table(
    "access_ledger_seal",
    metadata,
    Column("chain_pos", _BIGINT, primary_key=True, autoincrement=False),
    Column("seq", BigInteger(), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac", String(64), nullable=True),
    UniqueConstraint("seq"),
    CheckConstraint(
        "chain_pos >= 1 AND length(prev_hash) = 64 AND length(hash) = 64", name="well_formed"
    ),
)

AUTHENTICATED_SEALS_INDEX = "ix_access_ledger_seal_authenticated"
Index(
    AUTHENTICATED_SEALS_INDEX,
    access_ledger_seal.c.chain_pos,
    postgresql_where=access_ledger_seal.c.mac.is_not(None),
    sqlite_where=access_ledger_seal.c.mac.is_not(None),
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

SUBJECT_KINDS = ("customer", "supply_point")
"""Kinds of subject an entry names through a keyed pseudonym (:mod:`jointuse.ledger.pseudonyms`)."""

ledger_subject_key = Table(
    "ledger_subject_key",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("subject_id", String(64), primary_key=True),
    Column("epoch", String(7), primary_key=True),
    Column("key", String(64), nullable=False),
    Column("pseudonym", String(35), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
    CheckConstraint("kind IN ('customer', 'supply_point')", name="subject_kind"),
    CheckConstraint("length(key) = 64 AND length(pseudonym) = 35", name="well_formed"),
)
"""Per-subject random keys (migration ``0120_pseudonyms``). Not insert-only: deleting a row is
crypto-shredding (the entries naming its pseudonym stay, and no longer identify anyone)."""

ledger_legacy_erasure = Table(
    "ledger_legacy_erasure",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("since", String(32), nullable=True),
    Column("until", String(32), nullable=True),
    Column("erased_at", String(32), nullable=False),
    CheckConstraint("kind IN ('customer', 'supply_point')", name="subject_kind"),
    sqlite_autoincrement=True,
)
"""Erased subjects that entries written before pseudonyms (versions 1 and 2) still name in
clear: lookups stop returning those entries (over ``[since, until)`` of ``recorded_at``), the
rows themselves stay (sealed rows are never rewritten)."""
Index(
    "ix_ledger_legacy_erasure_subject",
    ledger_legacy_erasure.c.kind,
    ledger_legacy_erasure.c.subject_id,
)

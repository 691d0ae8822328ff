"""Tables of the parties registry (共同利用者の登録簿), on :data:`jointuse.core.db.metadata`.

The DDL is migration ``0002_parties``; this module mirrors it for queries.

* ``party`` — one row per joint user: kind, names, registration datum, the controller contact
  (address and representative, which a joint-use notice must state since April 2022);
* ``party_status`` — the status history: periods ``[valid_from, valid_to)``, the last one open;
* ``api_token`` — bearer tokens, stored only as the SHA-256 of the secret;
* ``client_certificate`` — TLS client certificates, by their SHA-256 fingerprint (lower-case hex).

Moments are stored as UTC (:class:`UtcDateTime`): timezone-aware in, timezone-aware (UTC) out,
on SQLite as well as on PostgreSQL, so that comparisons in SQL are comparisons of instants.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from jointuse.core import conflicts
from jointuse.core.db import metadata
from jointuse.core.errors import ValidationError

_BIGINT = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware moment, stored in UTC; a naive datetime is refused, never guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(
                f"moment {value} must be timezone-aware (e.g. Asia/Tokyo or UTC)",
                field="at",
                valid="a timezone-aware datetime",
            )
        utc = value.astimezone(UTC)
        # SQLite stores text: keep it naive UTC so that text order is time order.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


party = Table(
    "party",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name_ja", Text(), nullable=False),
    Column("name_en", Text(), nullable=False),
    Column("meti_registration", String(8), nullable=True),
    Column("contractor_code", String(32), nullable=True),
    Column("area_code", String(2), nullable=True),
    Column("address", Text(), nullable=False, server_default=""),
    Column("representative", Text(), nullable=False, server_default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    # ISO 3166-1 alpha-2 (migration 0110_policy_versions): a joint user abroad is provision to
    # a third party in a foreign country (APPI Art. 28), flagged by `policy check`.
    Column("country", String(2), nullable=False, server_default="JP"),
    CheckConstraint("kind IN ('retailer', 'tso', 'occto', 'dr_contractor')", name="kind_known"),
    Index("ix_party_kind", "kind"),
)

party_status = Table(
    "party_status",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("party_code", String(64), ForeignKey("party.code"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("valid_to", UtcDateTime(), nullable=True),
    Column("reason", Text(), nullable=True),
    UniqueConstraint("party_code", "valid_from", name="uq_party_status_party_code_valid_from"),
    CheckConstraint("status IN ('active', 'suspended', 'deregistered')", name="status_known"),
    CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="period_not_empty"),
    sqlite_autoincrement=True,
)

api_token = Table(
    "api_token",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("party_code", String(64), ForeignKey("party.code"), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("label", Text(), nullable=False, server_default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    # Migration 0140_users: a token belongs to a user of the party or to a named system client.
    Column("user_code", String(64), nullable=True),
    Column("client_name", String(64), nullable=True),
    CheckConstraint("length(token_hash) = 64", name="token_hash_sha256"),
    CheckConstraint("(user_code IS NULL) <> (client_name IS NULL)", name="one_holder"),
    ForeignKeyConstraint(
        ["party_code", "user_code"],
        ["party_user.party_code", "party_user.code"],
        name="fk_api_token_party_user",
    ),
    Index("ix_api_token_party_code", "party_code"),
)

ROLES = ("operator", "field_staff", "auditor", "administrator")
"""Roles of a party's users (利用者の役割); what each may do: :mod:`jointuse.parties.users`."""

party_user = Table(
    "party_user",
    metadata,
    Column("party_code", String(64), ForeignKey("party.code"), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("name", Text(), nullable=False),
    Column("email", String(254), nullable=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("deactivated_at", UtcDateTime(), nullable=True),
    CheckConstraint(
        "role IN ('operator', 'field_staff', 'auditor', 'administrator')", name="role_known"
    ),
)
"""A person within a party (one of its staff), with one role."""

client_certificate = Table(
    "client_certificate",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("party_code", String(64), ForeignKey("party.code"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    CheckConstraint("length(fingerprint) = 64", name="fingerprint_sha256"),
    Index("ix_client_certificate_party_code", "party_code"),
)

conflicts.rule("pk_party_user", "a user code is used once within a party")

"""Tables of the customers' identities (migration ``0070_customer_accounts``).

* ``customer_account`` — an e-mail address proven by a one-time code; failed attempts and a
  lock (``locked_until``) against guessing;
* ``account_link`` — a contract the customer proved by what is printed on their bill (契約番号,
  供給地点特定番号, postal code): the customer record and point it opens to them, over the
  contract's period (their tenure) — one link per account, customer and point;
* ``one_time_code`` — a code sent by e-mail (hash only), for enrolment or sign-in, with its
  expiry and attempts;
* ``customer_session`` — a signed-in customer's bearer (hash only), expiring, revocable;
* ``identity_event`` — every enrolment, sign-in and failure (who if known, when, what, outcome,
  from where).

Passkeys (migration ``0155_customer_passkeys``):

* ``customer_passkey`` — a WebAuthn credential a signed-in customer added: its credential ID
  (base64url, unique), public key (COSE), the authenticator's signature counter, a label, when
  it was added and last used;
* ``passkey_challenge`` — a challenge handed to a browser for one ceremony (adding a passkey, or
  signing in with one): bound to the web session (adding) or to the signed-out browser's CSRF
  token (signing in), both as a hash; it expires after minutes and is used at most once.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from jointuse.core import conflicts
from jointuse.core.db import metadata
from jointuse.customers.tables import Moment

_BIGINT = BigInteger().with_variant(Integer(), "sqlite")

customer_account = Table(
    "customer_account",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("created_at", Moment(), nullable=False),
    Column("failed_attempts", Integer(), nullable=False),
    Column("locked_until", Moment(), nullable=True),
)

account_link = Table(
    "account_link",
    metadata,
    Column("account_id", String(36), ForeignKey("customer_account.id"), primary_key=True),
    Column("customer_id", String(64), ForeignKey("customer.id"), primary_key=True),
    Column("supply_point_id", String(22), ForeignKey("supply_point.id"), primary_key=True),
    Column("retailer_code", String(64), nullable=False),
    Column("contract_number", String(40), nullable=False),
    Column("valid_from", Date(), nullable=False),
    Column("valid_to", Date(), nullable=True),
    Column("linked_at", Moment(), nullable=False),
)

one_time_code = Table(
    "one_time_code",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("payload", String(500), nullable=False),
    Column("created_at", Moment(), nullable=False),
    Column("expires_at", Moment(), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("used_at", Moment(), nullable=True),
    Index("ix_one_time_code_email", "email", "created_at"),
)

customer_session = Table(
    "customer_session",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("account_id", String(36), ForeignKey("customer_account.id"), nullable=False),
    Column("created_at", Moment(), nullable=False),
    Column("expires_at", Moment(), nullable=False),
    Column("revoked_at", Moment(), nullable=True),
)

identity_event = Table(
    "identity_event",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("account_id", String(36), nullable=True),
    Column("email_hash", String(64), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("outcome", String(24), nullable=False),
    Column("source", String(64), nullable=True),
    Column("at", Moment(), nullable=False),
    Index("ix_identity_event_email_hash", "email_hash", "at"),
    sqlite_autoincrement=True,
)

customer_passkey = Table(
    "customer_passkey",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(36), ForeignKey("customer_account.id"), nullable=False),
    Column("credential_id", String(1400), nullable=False, unique=True),
    Column("public_key", LargeBinary(), nullable=False),
    Column("sign_count", _BIGINT, nullable=False),
    Column("label", String(64), nullable=False),
    Column("created_at", Moment(), nullable=False),
    Column("last_used_at", Moment(), nullable=True),
    Index("ix_customer_passkey_account_id", "account_id"),
)

passkey_challenge = Table(
    "passkey_challenge",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("purpose", String(8), nullable=False),
    Column("binding_hash", String(64), nullable=False),
    Column("account_id", String(36), nullable=True),
    Column("challenge", String(128), nullable=False, unique=True),
    Column("source", String(64), nullable=True),
    Column("created_at", Moment(), nullable=False),
    Column("expires_at", Moment(), nullable=False),
    Column("used_at", Moment(), nullable=True),
    Index("ix_passkey_challenge_source", "source", "created_at"),
    Index("ix_passkey_challenge_expires_at", "expires_at"),
)

conflicts.rule("uq_customer_account_email", "one account per e-mail address")
conflicts.rule("pk_account_link", "a contract is linked to an account once")
conflicts.rule("uq_customer_passkey_credential_id", "a passkey is added once")

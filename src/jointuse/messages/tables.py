"""Tables of the messages area, registered on :data:`jointuse.core.db.metadata`.

``party_message`` — one row per message to one party: its kind, the references it is about
(``subject_ref``: a flow ID, a supply point ID …), a small body of states, the moment it was
written and the moment the recipient acknowledged it. The ``id`` orders a party's inbox and is
the cursor of a peek. ``push_state`` is the webhook's: ``NULL`` not pushed (yet), ``pushed``,
``failed`` (given up after the last attempt) or ``skipped`` (acknowledged before its push); the
partial index ``ix_party_message_unpushed`` holds exactly the rows still to push, so the
delivery worker finds a party's next message without walking the ones it has handled. Messages
carry references and states, never personal data (see :mod:`jointuse.messages.service`). DDL:
migrations ``0050_messages`` and ``0051_webhooks``.

``party_webhook`` — the one endpoint a party registers (the primary key on ``party`` is the rule
"one webhook per party"), its signing secret, the first message it is owed (messages posted
after the registration), and the delivery state: the worker's lease, the attempts on the message
at the head of the party's queue, the next attempt's time, the last status and error.

``webhook_failure`` — the messages a webhook gave up on (after the last attempt), with the last
error: visible to the party in ``GET /v1/webhooks``; the messages stay in the inbox.

``idempotency_key`` — one row per (party, ``Idempotency-Key``) — the primary key is the rule
"a key is used once per party" — with the request it was used for (route and a SHA-256 of its
body) and, once the request completed, its answer (status and body), kept until ``expires_at``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

import jointuse.parties.tables  # noqa: F401  (the party table the webhook refers to)
from jointuse.core import conflicts
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
    Column("push_state", String(8), nullable=True),
    Column("pushed_at", Moment(), nullable=True),
    Index("ix_party_message_recipient", "recipient", "id"),
    Index(
        "ix_party_message_unacked",
        "recipient",
        "id",
        sqlite_where=text("acked_at IS NULL"),
        postgresql_where=text("acked_at IS NULL"),
    ),
    Index(
        "ix_party_message_unpushed",
        "recipient",
        "id",
        sqlite_where=text("push_state IS NULL"),
        postgresql_where=text("push_state IS NULL"),
    ),
    sqlite_autoincrement=True,
)

party_webhook = Table(
    "party_webhook",
    metadata,
    Column("party", String(64), ForeignKey("party.code"), nullable=False),
    Column("url", Text(), nullable=False),
    Column("secret", String(80), nullable=False),
    Column("from_message_id", _BIGINT, nullable=False),
    Column("created_at", Moment(), nullable=False),
    Column("updated_at", Moment(), nullable=False),
    Column("next_attempt_at", Moment(), nullable=False),
    Column("head_message_id", _BIGINT, nullable=True),
    Column("attempts", Integer(), nullable=False, server_default="0"),
    Column("lease_owner", String(32), nullable=True),
    Column("lease_until", Moment(), nullable=True),
    Column("last_attempt_at", Moment(), nullable=True),
    Column("last_success_at", Moment(), nullable=True),
    Column("last_status", Integer(), nullable=True),
    Column("last_error", Text(), nullable=True),
    Column("delivered", _BIGINT, nullable=False, server_default="0"),
    Column("failed", _BIGINT, nullable=False, server_default="0"),
    PrimaryKeyConstraint("party", name="pk_party_webhook"),
)

webhook_failure = Table(
    "webhook_failure",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("party", String(64), nullable=False),
    Column("message_id", _BIGINT, nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("last_error", Text(), nullable=False),
    Column("failed_at", Moment(), nullable=False),
    Index("ix_webhook_failure_party", "party", "id"),
    sqlite_autoincrement=True,
)

idempotency_key = Table(
    "idempotency_key",
    metadata,
    Column("party", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("route", String(300), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer(), nullable=True),
    Column("response", Text(), nullable=True),
    Column("created_at", Moment(), nullable=False),
    Column("expires_at", Moment(), nullable=False),
    PrimaryKeyConstraint("party", "key", name="pk_idempotency_key"),
    Index("ix_idempotency_key_expires_at", "expires_at"),
)

ONE_WEBHOOK = conflicts.rule("pk_party_webhook", "one webhook endpoint per party")
ONE_USE_OF_A_KEY = conflicts.rule(
    "pk_idempotency_key", "an Idempotency-Key is used for one request per party"
)

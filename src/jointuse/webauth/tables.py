"""The web sessions table (migration ``0130_web_sessions``).

``web_session`` — one signed-in browser: the hash of its cookie value, its CSRF token, who it is
(a customer account and its ``customer_session``, or a party and the API token it exchanged),
when it was made, last used, and when it ends at the latest; revoked on sign-out.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from jointuse.core.db import metadata
from jointuse.customers.tables import Moment

web_session = Table(
    "web_session",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("account_id", String(36), nullable=True),
    Column("customer_session_id", String(16), nullable=True),
    Column("party_code", String(64), nullable=True),
    Column("token_id", String(16), nullable=True),
    Column("created_at", Moment(), nullable=False),
    Column("last_seen_at", Moment(), nullable=False),
    Column("expires_at", Moment(), nullable=False),
    Column("revoked_at", Moment(), nullable=True),
)
Index("ix_web_session_expires_at", web_session.c.expires_at)

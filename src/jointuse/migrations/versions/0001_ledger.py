"""Access ledger (アクセス記録): the append-only, hash-chained record, and its signed checkpoints.

Revision ID: 0001_ledger
Revises: (none, the first revision)

Append-only is enforced by the database, on both backends:

* ``INSERT`` into ``access_ledger`` must leave ``chain_pos``, ``prev_hash`` and ``hash`` NULL
  (entries are written unsealed in the request's transaction);
* ``UPDATE`` is allowed only when it sets all three of them from NULL to non-NULL and changes
  nothing else (``seq`` and ``entry``; every other column is generated from ``entry``): that is
  the sealer's one write;
* ``DELETE`` (and ``TRUNCATE`` on PostgreSQL) are refused; on SQLite ``recursive_triggers`` is on
  (see :func:`jointuse.core.db.make_engine`) so ``INSERT OR REPLACE`` cannot delete either;
* ``ledger_checkpoint`` refuses every ``UPDATE``, ``DELETE`` and ``TRUNCATE``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from jointuse.core.db import JsonField

revision: str = "0001_ledger"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_GENERATED_TEXT = (
    "recorded_at",
    "party",
    "purpose",
    "action",
    "supply_point_id",
    "customer_id",
    "decision",
    "rule_id",
    "request_id",
)
_GENERATED_JSON = ("items_granted", "items_refused")

_APPEND_ONLY = "access_ledger is append-only"
_MSG_INSERT = (
    f"{_APPEND_ONLY}: entries are inserted unsealed (chain_pos, prev_hash, hash NULL);"
    " only the sealer sets them"
)
_MSG_UPDATE = (
    f"{_APPEND_ONLY}: UPDATE is refused (only sealing an unsealed entry,"
    " setting chain_pos, prev_hash and hash from NULL, is allowed)"
)

_SQLITE_TRIGGERS = (
    f"""
    CREATE TRIGGER access_ledger_insert_unsealed BEFORE INSERT ON access_ledger
    WHEN NEW.chain_pos IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL
    BEGIN
        SELECT RAISE(ABORT, '{_MSG_INSERT}');
    END
    """,
    f"""
    CREATE TRIGGER access_ledger_update_seal_only BEFORE UPDATE ON access_ledger
    WHEN NOT (
        OLD.chain_pos IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
        AND NEW.chain_pos IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
        AND NEW.seq IS OLD.seq AND NEW.entry IS OLD.entry
    )
    BEGIN
        SELECT RAISE(ABORT, '{_MSG_UPDATE}');
    END
    """,
    f"""
    CREATE TRIGGER access_ledger_no_delete BEFORE DELETE ON access_ledger
    BEGIN
        SELECT RAISE(ABORT, '{_APPEND_ONLY}: DELETE is refused');
    END
    """,
    """
    CREATE TRIGGER ledger_checkpoint_no_update BEFORE UPDATE ON ledger_checkpoint
    BEGIN
        SELECT RAISE(ABORT, 'ledger_checkpoint is append-only: UPDATE is refused');
    END
    """,
    """
    CREATE TRIGGER ledger_checkpoint_no_delete BEFORE DELETE ON ledger_checkpoint
    BEGIN
        SELECT RAISE(ABORT, 'ledger_checkpoint is append-only: DELETE is refused');
    END
    """,
)

_PG_TRIGGERS = (
    f"""
    CREATE FUNCTION jointuse_access_ledger_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.chain_pos IS NOT NULL OR NEW.prev_hash IS NOT NULL
               OR NEW.hash IS NOT NULL THEN
                RAISE EXCEPTION '{_MSG_INSERT}'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        ELSIF TG_OP = 'UPDATE' THEN
            IF OLD.chain_pos IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
               AND NEW.chain_pos IS NOT NULL AND NEW.prev_hash IS NOT NULL
               AND NEW.hash IS NOT NULL
               AND NEW.seq IS NOT DISTINCT FROM OLD.seq
               AND NEW.entry IS NOT DISTINCT FROM OLD.entry THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION '{_MSG_UPDATE}'
                USING ERRCODE = 'restrict_violation';
        END IF;
        RAISE EXCEPTION '{_APPEND_ONLY}: % is refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER access_ledger_guard BEFORE INSERT OR UPDATE OR DELETE ON access_ledger
    FOR EACH ROW EXECUTE FUNCTION jointuse_access_ledger_guard()
    """,
    """
    CREATE TRIGGER access_ledger_no_truncate BEFORE TRUNCATE ON access_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION jointuse_access_ledger_guard()
    """,
    """
    CREATE FUNCTION jointuse_ledger_checkpoint_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger_checkpoint is append-only: % is refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER ledger_checkpoint_guard BEFORE UPDATE OR DELETE ON ledger_checkpoint
    FOR EACH ROW EXECUTE FUNCTION jointuse_ledger_checkpoint_guard()
    """,
    """
    CREATE TRIGGER ledger_checkpoint_no_truncate BEFORE TRUNCATE ON ledger_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION jointuse_ledger_checkpoint_guard()
    """,
)


def upgrade() -> None:
    generated = [
        sa.Column(name, sa.Text(), sa.Computed(JsonField("entry", name), persisted=True))
        for name in _GENERATED_TEXT
    ] + [
        sa.Column(
            name,
            sa.Text(),
            sa.Computed(JsonField("entry", name, as_json=True), persisted=True),
        )
        for name in _GENERATED_JSON
    ]
    op.create_table(
        "access_ledger",
        sa.Column("seq", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("chain_pos", sa.BigInteger(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=True),
        sa.Column("hash", sa.String(64), nullable=True),
        *generated,
        sa.UniqueConstraint("chain_pos"),
        sa.CheckConstraint(
            "(chain_pos IS NULL AND prev_hash IS NULL AND hash IS NULL)"
            " OR (chain_pos IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL"
            " AND chain_pos >= 1 AND length(prev_hash) = 64 AND length(hash) = 64)",
            name="sealed_together",
        ),
        sqlite_autoincrement=True,
    )
    for column in ("party", "supply_point_id", "customer_id", "recorded_at", "request_id"):
        op.create_index(f"ix_access_ledger_{column}", "access_ledger", [column])
    op.create_table(
        "ledger_checkpoint",
        sa.Column("id", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column("chain_pos", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.String(32), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.CheckConstraint("chain_pos >= 0", name="chain_pos_not_negative"),
        sqlite_autoincrement=True,
    )
    dialect = op.get_bind().dialect.name
    for statement in _PG_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TABLE ledger_checkpoint")
        op.execute("DROP TABLE access_ledger")
        op.execute("DROP FUNCTION jointuse_ledger_checkpoint_guard()")
        op.execute("DROP FUNCTION jointuse_access_ledger_guard()")
    else:
        op.drop_table("ledger_checkpoint")
        op.drop_table("access_ledger")

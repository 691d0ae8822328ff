"""Access ledger (アクセス記録): insert-only entries, insert-only seals, signed checkpoints.

Revision ID: 0001_ledger
Revises: (none, the first revision)

Three tables, each **insert-only** (enforced by the database, on both backends):

* ``access_ledger``: one row per access decision, written once in the request's transaction:
  ``seq`` (insert id), ``entry`` (the canonical JSON that is hashed) and the descriptive columns
  (``party``, ``purpose`` …, plain columns written at insert for searching). A ``CHECK`` makes
  the database refuse a row whose descriptive columns differ from its ``entry``
  (PostgreSQL: :func:`jointuse_ledger_columns_match`, one JSON parse; SQLite: ``json_extract``).
* ``access_ledger_seal``: the hash chain, one row per sealed entry, written by the sealer:
  ``chain_pos`` (1, 2, 3 …), ``seq`` (the entry), ``prev_hash``, ``hash``. An entry is sealed
  when its seal row exists; nothing is ever updated.
* ``ledger_checkpoint``: signed heads.

``UPDATE`` and ``DELETE`` (and ``TRUNCATE`` on PostgreSQL) are refused by triggers on all three;
on SQLite ``recursive_triggers`` is on (see :func:`jointuse.core.db.make_engine`) so
``INSERT OR REPLACE`` cannot delete either. The view ``access_ledger_chain`` joins entries with
their seals (``chain_pos`` … NULL while unsealed) for people reading the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_ledger"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_TEXT_FIELDS = (
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
_JSON_FIELDS = ("items_granted", "items_refused")
_REQUIRED = ("recorded_at", "party", "purpose", "action", "decision", *_JSON_FIELDS)
_INDEXED = ("party", "supply_point_id", "customer_id")
_GUARDED = ("access_ledger", "access_ledger_seal", "ledger_checkpoint")

_PG_MATCH_FUNCTION = (
    "CREATE FUNCTION jointuse_ledger_columns_match("
    + ", ".join(f"{name} text" for name in ("entry", *_TEXT_FIELDS, *_JSON_FIELDS))
    # plpgsql, not sql: parsed once per row, its plan cached (a sql function with a FROM is
    # planned on every call, some 0.2 ms)
    + ") RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$"
    " DECLARE j jsonb := entry::jsonb; BEGIN RETURN "
    + " AND ".join(
        [f"(j ->> '{name}') IS NOT DISTINCT FROM {name}" for name in _TEXT_FIELDS]
        + [f"(j -> '{name}') = ({name})::jsonb" for name in _JSON_FIELDS]
    )
    + "; END $$"
)
_PG_MATCH_CHECK = (
    "jointuse_ledger_columns_match(" + ", ".join(("entry", *_TEXT_FIELDS, *_JSON_FIELDS)) + ")"
)
_SQLITE_MATCH_CHECK = " AND ".join(
    [f"json_extract(entry, '$.{name}') IS {name}" for name in _TEXT_FIELDS]
    + [f"json_extract(entry, '$.{name}') IS json({name})" for name in _JSON_FIELDS]
)


def _sqlite_guards(table: str) -> tuple[str, ...]:
    return tuple(
        f"""
        CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table}
        BEGIN
            SELECT RAISE(ABORT, '{table} is append-only: {op_name} is refused');
        END
        """
        for op_name in ("UPDATE", "DELETE")
    )


_PG_GUARD_FUNCTION = """
    CREATE FUNCTION jointuse_ledger_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
"""


def _pg_guards(table: str) -> tuple[str, ...]:
    return (
        f"""
        CREATE TRIGGER {table}_guard BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION jointuse_ledger_guard()
        """,
        f"""
        CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION jointuse_ledger_guard()
        """,
    )


_CHAIN_VIEW = """
    CREATE VIEW access_ledger_chain AS
    SELECT l.seq, s.chain_pos, s.prev_hash, s.hash, l.entry, l.recorded_at, l.party, l.purpose,
           l.action, l.decision, l.supply_point_id, l.customer_id, l.rule_id, l.request_id,
           l.items_granted, l.items_refused
    FROM access_ledger AS l LEFT JOIN access_ledger_seal AS s ON s.seq = l.seq
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(_PG_MATCH_FUNCTION)
        op.execute(_PG_GUARD_FUNCTION)
    op.create_table(
        "access_ledger",
        sa.Column("seq", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column("entry", sa.Text(), nullable=False),
        *(sa.Column(name, sa.Text(), nullable=name not in _REQUIRED) for name in _TEXT_FIELDS),
        *(sa.Column(name, sa.Text(), nullable=False) for name in _JSON_FIELDS),
        sa.CheckConstraint(
            _PG_MATCH_CHECK if dialect == "postgresql" else _SQLITE_MATCH_CHECK,
            name="columns_match_entry",
        ),
        sqlite_autoincrement=True,
    )
    for column in _INDEXED:
        op.create_index(f"ix_access_ledger_{column}", "access_ledger", [column])
    op.create_table(
        "access_ledger_seal",
        # on SQLite an INTEGER PRIMARY KEY: the rowid itself (one b-tree, read in chain order)
        sa.Column("chain_pos", _BIGINT, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("seq"),
        sa.CheckConstraint(
            "chain_pos >= 1 AND length(prev_hash) = 64 AND length(hash) = 64",
            name="well_formed",
        ),
    )
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
    op.execute(_CHAIN_VIEW)
    for table in _GUARDED:
        for statement in _pg_guards(table) if dialect == "postgresql" else _sqlite_guards(table):
            op.execute(statement)


def downgrade() -> None:
    op.execute("DROP VIEW access_ledger_chain")
    for table in reversed(_GUARDED):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION jointuse_ledger_guard()")
        op.execute(
            "DROP FUNCTION jointuse_ledger_columns_match("
            + ", ".join(["text"] * (1 + len(_TEXT_FIELDS) + len(_JSON_FIELDS)))
            + ")"
        )

"""Test helpers acting as a database superuser: drop the guard triggers, edit, recreate them."""

from __future__ import annotations

from sqlalchemy import Engine, text

from jointuse.ledger.chain import GENESIS_HASH, entry_hash


def tamper(engine: Engine, *statements: str, table: str = "access_ledger") -> None:
    """Run ``statements`` on ``table`` with its triggers dropped, then recreate the triggers."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            triggers = conn.execute(
                text(
                    "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger"
                    " WHERE tgrelid = CAST(:t AS regclass) AND NOT tgisinternal"
                ),
                {"t": table},
            ).all()
            for name, _ in triggers:
                conn.execute(text(f'DROP TRIGGER "{name}" ON {table}'))
        else:
            triggers = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type='trigger' AND tbl_name=:t"),
                {"t": table},
            ).all()
            for name, _ in triggers:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
        assert triggers, f"no triggers found on {table}"
        for statement in statements:
            conn.execute(text(statement))
        for _, definition in triggers:
            conn.exec_driver_sql(definition)


def rehash_from(engine: Engine, start: int) -> None:
    """Recompute every hash from chain position ``start`` on, as a forger would."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT chain_pos, seq, entry, prev_hash FROM access_ledger"
                " WHERE chain_pos IS NOT NULL ORDER BY chain_pos"
            )
        ).all()
    statements = []
    prev = GENESIS_HASH
    for pos, seq, entry, prev_hash in rows:
        if pos < start:
            prev = conn_hash = entry_hash(pos, seq, prev_hash, entry)
            continue
        conn_hash = entry_hash(pos, seq, prev, entry)
        statements.append(
            f"UPDATE access_ledger SET prev_hash = '{prev}', hash = '{conn_hash}' WHERE seq = {seq}"
        )
        prev = conn_hash
    tamper(engine, *statements)

"""Test helpers acting as a database superuser: drop the guard triggers, edit, recreate them —
or, on PostgreSQL, switch them off for the session (``session_replication_role = replica``)."""

from __future__ import annotations

from sqlalchemy import Engine, text

from jointuse.ledger.chain import GENESIS_HASH, entry_hash

LEDGER_TABLES = ("access_ledger", "access_ledger_seal", "ledger_checkpoint")


def tamper(engine: Engine, *statements: str, replica: bool = False) -> None:
    """Run ``statements`` with the triggers of every ledger table dropped, then recreate them.

    ``replica`` (PostgreSQL): instead, run them with the triggers switched off for the
    transaction (``SET LOCAL session_replication_role = replica``, a superuser's right); on
    SQLite, which has no such switch, the triggers are dropped and re-created as above."""
    if replica and engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for statement in statements:
                conn.execute(text(statement))
        return
    with engine.begin() as conn:
        triggers: list[tuple[str, str, str]] = []
        for table in LEDGER_TABLES:
            if conn.dialect.name == "postgresql":
                found = conn.execute(
                    text(
                        "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger"
                        " WHERE tgrelid = CAST(:t AS regclass) AND NOT tgisinternal"
                    ),
                    {"t": table},
                ).all()
            else:
                found = conn.execute(
                    text(
                        "SELECT name, sql FROM sqlite_master WHERE type='trigger' AND tbl_name=:t"
                    ),
                    {"t": table},
                ).all()
            assert found, f"no triggers found on {table}"
            triggers += [(table, name, definition) for name, definition in found]
        for table, name, _ in triggers:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f'DROP TRIGGER "{name}" ON {table}'))
            else:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
        for statement in statements:
            conn.execute(text(statement))
        for _, _, definition in triggers:
            conn.exec_driver_sql(definition)


def rehash_from(engine: Engine, start: int, *, replica: bool = False) -> None:
    """Recompute every hash from chain position ``start`` on, as a forger would (renumbering
    the positions from ``start`` on, so that deleted ones leave no gap)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.chain_pos, s.seq, l.entry, s.prev_hash, s.hash FROM access_ledger_seal s"
                " JOIN access_ledger l ON l.seq = s.seq ORDER BY s.chain_pos"
            )
        ).all()
    statements = []
    prev = GENESIS_HASH
    new_pos = 0
    for pos, seq, entry, _prev_hash, stored in rows:
        if pos < start:
            prev, new_pos = stored, pos
            continue
        new_pos += 1
        digest = entry_hash(new_pos, seq, prev, entry)
        statements.append(
            f"UPDATE access_ledger_seal SET chain_pos = {new_pos}, prev_hash = '{prev}',"
            f" hash = '{digest}' WHERE chain_pos = {pos}"
        )
        prev = digest
    tamper(engine, *statements, replica=replica)

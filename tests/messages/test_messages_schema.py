"""The messages area's tables module matches its migrations (0050, 0051), on both backends, and
the migration goes down and up again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, inspect

from jointuse.core.db import alembic_config, current_revisions, make_engine, upgrade

MY_TABLES = {"party_message", "party_webhook", "webhook_failure", "idempotency_key"}


def test_tables_module_matches_the_migrations(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import jointuse.messages.tables  # noqa: F401  (registers the tables on the metadata)
    from jointuse.core.db import metadata

    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )

    def table_of(change: Any) -> str:
        if isinstance(change, list):
            change = change[0]
        op, obj = change[0], change[1]
        if op in ("add_table", "remove_table"):
            return str(obj.name)
        if op.endswith(("_index", "_constraint", "_fk")):
            return str(obj.table.name)
        return str(change[2])

    assert [d for d in diff if table_of(d) in MY_TABLES] == []


def test_the_webhooks_migration_goes_down_and_up(empty_database_url: str) -> None:
    from alembic import command

    eng = make_engine(empty_database_url)
    try:
        upgrade(eng)
        with eng.begin() as conn:
            command.downgrade(alembic_config(connection=conn), "0060_work_orders")
        assert current_revisions(eng) == ("0060_work_orders",)
        names = set(inspect(eng).get_table_names())
        assert "party_message" in names and not {"party_webhook", "idempotency_key"} & names
        columns = {c["name"] for c in inspect(eng).get_columns("party_message")}
        assert "push_state" not in columns
        upgrade(eng)
        assert {"party_webhook", "webhook_failure", "idempotency_key"} <= set(
            inspect(eng).get_table_names()
        )
    finally:
        eng.dispose()

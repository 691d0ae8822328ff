"""Alembic environment: runs on the connection handed over by :func:`jointuse.core.db.upgrade`,
or on ``sqlalchemy.url`` / ``JOINTUSE_DATABASE_URL`` when Alembic is driven another way."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from jointuse.core.db import make_engine, metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from jointuse.core.settings import load_settings

        url = load_settings().database_url
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("jointuse migrations run online only (jointuse db upgrade)")
_main()

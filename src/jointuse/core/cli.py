"""``jointuse db``: migrate the database (register with ``app.add_typer(db_app, name="db")``)."""

from __future__ import annotations

from typing import Annotated

import typer

from jointuse.core.db import (
    alembic_config,
    current_revisions,
    database_url_for_display,
    make_engine,
    upgrade,
)
from jointuse.core.settings import load_settings

db_app = typer.Typer(help="Database: migrations.", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL (default: JOINTUSE_DATABASE_URL, else sqlite:///./var/jointuse.db).",
        show_default=False,
    ),
]


def resolve_database_url(database_url: str | None) -> str:
    """The ``--database-url`` given, else the one from the settings."""
    return database_url or load_settings().database_url


@db_app.command("upgrade")
def upgrade_command(
    database_url: DatabaseUrl = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "heads",
) -> None:
    """Run the migrations up to REVISION (default: every head)."""
    url = resolve_database_url(database_url)
    engine = make_engine(url)
    try:
        upgrade(engine, revision)
        typer.echo(
            f"{database_url_for_display(url)}: at revision "
            f"{', '.join(current_revisions(engine)) or '(none)'}"
        )
    finally:
        engine.dispose()


@db_app.command("current")
def current_command(database_url: DatabaseUrl = None) -> None:
    """Print the revision(s) the database is at."""
    engine = make_engine(resolve_database_url(database_url))
    try:
        typer.echo(", ".join(current_revisions(engine)) or "(none: run `jointuse db upgrade`)")
    finally:
        engine.dispose()


@db_app.command("revision")
def revision_command(
    message: Annotated[str, typer.Option("-m", "--message", help="What the migration does.")],
    rev_id: Annotated[
        str, typer.Option("--rev-id", help="Revision id, e.g. 0002_parties (<NNNN>_<area>).")
    ],
    down_revision: Annotated[
        str | None,
        typer.Option("--down-revision", help="The revision it builds on (default: the head)."),
    ] = None,
) -> None:
    """Write a new, empty migration file in the package (developers only)."""
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    if down_revision is None:
        down_revision = script.get_current_head() or "0001_ledger"
    if script.get_revision(down_revision) is None:
        raise typer.BadParameter(f"no revision {down_revision!r}", param_hint="--down-revision")
    created = command.revision(cfg, message=message, rev_id=rev_id, head=down_revision, splice=True)
    path = getattr(created, "path", created)
    typer.echo(f"wrote {path}")

"""``jointuse db``: migrate the database (register with ``app.add_typer(db_app, name="db")``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from jointuse.core.db import (
    alembic_config,
    current_revisions,
    database_url_for_display,
    make_engine,
    upgrade,
)
from jointuse.core.settings import load_settings


def typer_app(help: str, **kwargs: Any) -> typer.Typer:
    """A command group of ``jointuse``: every ``typer.Typer`` of the CLI is made here.

    Help screens are Click's plain ones (``rich_markup_mode=None``): help texts are printed as
    written. With Rich markup they were read as markup and emoji codes — ``NAME@FROM[/TO]``
    crashed ``policy explain --help`` (``MarkupError``), ``AB:CD:…`` turned into a CD emoji — and
    every flag showed a ``<bool>`` type. ``tests/test_cli_help.py`` runs ``--help`` for every
    command and checks each help text appears word for word.
    """
    kwargs.setdefault("rich_markup_mode", None)
    return typer.Typer(help=help, **kwargs)


db_app = typer_app("Database: migrations.", no_args_is_help=True)

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

"""``jointuse db`` (register with ``app.add_typer(db_app, name="db")``) and what every command
shares: :func:`typer_app` (each command group), :data:`DatabaseUrl` (the ``--database-url``
option) and :func:`open_cli_database` (the database of a command).

Only ``jointuse db upgrade`` and ``jointuse demo`` create or migrate a database
(``open_cli_database(..., create=True)``); every other command opens an existing database at the
head revision, and refuses anything else — absent, empty, behind, unreachable — with the command
that fixes it, on stderr, exit status 2 (:mod:`jointuse.core.opening`).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from jointuse.core.db import alembic_config, current_revisions, upgrade
from jointuse.core.errors import JointuseError
from jointuse.core.opening import open_database, upgrade_command
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


def open_cli_database(
    database_url: str | None, *, create: bool = False, at_head: bool = True
) -> Engine:
    """The engine of a command's database (``--database-url``, else the configured one), opened
    by :func:`jointuse.core.opening.open_database`, with the configured ledger key bound to it
    (:func:`jointuse.ledger.keys.bind_configured_key`); the caller disposes of it. A refusal (and a
    URL or setting that does not parse) prints ``error: …`` with the fix on stderr and exits
    with status 2."""
    try:
        url = resolve_database_url(database_url)
        hint = upgrade_command(url, explicit=database_url is not None)
        engine = open_database(url, create=create, at_head=at_head, upgrade_hint=hint)
        # The ledger entries the command writes carry MACs under the configured key.
        from jointuse.ledger.keys import bind_configured_key

        bind_configured_key(engine, url)
        return engine
    except JointuseError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        valid = exc.details.get("valid")
        if valid:
            shown = ", ".join(valid) if isinstance(valid, list | tuple) else str(valid)
            typer.echo(f"  valid: {shown}", err=True)
        raise typer.Exit(2) from None


@db_app.command("upgrade")
def upgrade_database_command(
    database_url: DatabaseUrl = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "heads",
) -> None:
    """Create (SQLite) and migrate the database up to REVISION (default: every head).

    A PostgreSQL database must exist (createdb); a SQLite file is created."""
    engine = open_cli_database(database_url, create=True)
    try:
        upgrade(engine, revision)
        typer.echo(
            f"{engine.url.render_as_string(hide_password=True)}: at revision "
            f"{', '.join(current_revisions(engine)) or '(none)'}"
        )
    finally:
        engine.dispose()


@db_app.command("current")
def current_command(database_url: DatabaseUrl = None) -> None:
    """Print the revision(s) the database is at."""
    engine = open_cli_database(database_url, at_head=False)
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

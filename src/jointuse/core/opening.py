"""Opening a database: the one door every entry point (each CLI command, the server) goes through.

A mistyped path or URL must not turn into a new, silently migrated database (connecting to a
SQLite file creates it; running the migrations on whatever answers migrated even PostgreSQL's
``postgres`` maintenance database). So :func:`open_database`

* with ``create=False`` (every command but two) refuses, as :class:`DatabaseNotReady`, a
  database that does not exist (a SQLite file that is not there — checked *before* connecting,
  and no folder is made either; a PostgreSQL database the server does not have), one whose server
  does not answer, one that is empty (never migrated) or not at the head revision of the
  migrations shipped with this version, and one made by a newer version (a revision this one does
  not know). Each refusal says what was found and the command that fixes it (``jointuse db
  upgrade …``; for a PostgreSQL database that does not exist, ``createdb …`` first);
* with ``create=True`` (``jointuse db upgrade`` and ``jointuse demo``, which then migrate it
  themselves) lets a SQLite file be created; a PostgreSQL database is never created here (that
  needs rights on the server the application should not hold): it must exist.

``at_head=False`` (``jointuse db current``) only asks that the database exist and answer.
The state is read with :func:`schema_state` (the revisions the database is at and the heads the
shipped migrations end in); the server's readiness check can use it too.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from jointuse.core.db import (
    alembic_config,
    current_revisions,
    database_url_for_display,
    make_engine,
    normalise_url,
)
from jointuse.core.errors import JointuseError


class DatabaseNotReady(JointuseError):
    """The database is absent, unreachable, empty or not at the head revision (HTTP 503).

    ``state`` is one of ``missing``, ``unreachable``, ``not_a_database``, ``empty``, ``behind``,
    ``unknown_revision``; ``fix`` the command that fixes it, when there is one (also in the
    message)."""

    code = "database_not_ready"
    status = 503

    def __init__(self, message: str, *, state: str, url: str, fix: str | None = None) -> None:
        super().__init__(message, state=state, database=url, fix=fix)
        self.state = state
        self.fix = fix


MAINTENANCE_DATABASES = frozenset({"postgres", "template0", "template1"})
"""PostgreSQL's own databases: never a jointuse database (a URL naming one is a mistake)."""


@dataclass(frozen=True, slots=True)
class SchemaState:
    """The revisions a database is at and the heads of the shipped migrations."""

    current: tuple[str, ...]
    heads: tuple[str, ...]

    @property
    def at_head(self) -> bool:
        return bool(self.current) and set(self.current) == set(self.heads)


@cache
def _script_revisions() -> tuple[tuple[str, ...], frozenset[str]]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    heads = tuple(sorted(script.get_heads()))
    known = frozenset(r.revision for r in script.walk_revisions())
    return heads, known


def head_revisions() -> tuple[str, ...]:
    """The head revision(s) of the migrations shipped with this version (one, by rule)."""
    return _script_revisions()[0]


def upgrade_command(url: str, *, explicit: bool = True) -> str:
    """The command that migrates the database at ``url`` (password hidden). ``explicit=False``:
    the URL is the configured one (``JOINTUSE_DATABASE_URL`` or the default), so the command
    needs no ``--database-url``."""
    if not explicit:
        return "jointuse db upgrade"
    return f"jointuse db upgrade --database-url {shlex.quote(database_url_for_display(url))}"


def _createdb_command(url: str) -> str:
    u = make_url(url)
    parts = ["createdb"]
    if u.host:
        parts += ["-h", u.host]
    if u.port:
        parts += ["-p", str(u.port)]
    if u.username:
        parts += ["-U", u.username]
    parts.append(u.database or "")
    return shlex.join(parts)


def _where(url: str) -> str:
    return database_url_for_display(url)


def schema_state(engine: Engine, *, upgrade_hint: str | None = None) -> SchemaState:
    """Connect and read the revisions; a database that is missing, unreachable or not a
    database is :class:`DatabaseNotReady` (with ``upgrade_hint`` in the fix where it helps)."""
    url = engine.url.render_as_string(hide_password=False)
    hint = upgrade_hint or upgrade_command(url)
    try:
        current = current_revisions(engine)
    except DBAPIError as exc:
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        name = engine.url.database or ""
        if engine.dialect.name == "postgresql" and f'database "{name}" does not exist' in str(
            exc.orig
        ):
            fix = f"{_createdb_command(url)} && {hint}"
            raise DatabaseNotReady(
                f"there is no database {name!r} on the PostgreSQL server of {_where(url)}; "
                f"create it and migrate it: {fix}",
                state="missing",
                url=_where(url),
                fix=fix,
            ) from None
        if engine.dialect.name == "sqlite" and "not a database" in first:
            raise DatabaseNotReady(
                f"{_where(url)} is not a SQLite database ({first})",
                state="not_a_database",
                url=_where(url),
            ) from None
        raise DatabaseNotReady(
            f"cannot open the database {_where(url)}: {first}",
            state="unreachable",
            url=_where(url),
        ) from None
    return SchemaState(current=current, heads=head_revisions())


def require_head(engine: Engine, *, upgrade_hint: str | None = None) -> SchemaState:
    """The database's :class:`SchemaState`, or :class:`DatabaseNotReady` unless it is migrated
    to the head of the shipped migrations."""
    url = engine.url.render_as_string(hide_password=False)
    hint = upgrade_hint or upgrade_command(url)
    state = schema_state(engine, upgrade_hint=hint)
    if state.at_head:
        return state
    heads = ", ".join(state.heads)
    if (
        not state.current
        and engine.dialect.name == "postgresql"
        and (engine.url.database in MAINTENANCE_DATABASES)
    ):
        raise DatabaseNotReady(
            f"{_where(url)} is PostgreSQL's maintenance database, not a jointuse one: create a "
            "database for jointuse (createdb jointuse) and name it in the URL; then run "
            "jointuse db upgrade --database-url postgresql://…/jointuse",
            state="empty",
            url=_where(url),
        )
    if not state.current:
        raise DatabaseNotReady(
            f"the database {_where(url)} is empty (no migrations applied: not a jointuse "
            f"database, or a mistyped one); to migrate it, run: {hint}",
            state="empty",
            url=_where(url),
            fix=hint,
        )
    unknown = sorted(set(state.current) - _script_revisions()[1])
    if unknown:
        raise DatabaseNotReady(
            f"the database {_where(url)} is at revision {', '.join(unknown)}, which this version "
            f"of jointuse does not know (made by a newer version?); it needs {heads}: "
            "upgrade jointuse",
            state="unknown_revision",
            url=_where(url),
        )
    raise DatabaseNotReady(
        f"the database {_where(url)} is at revision {', '.join(state.current)}; this version "
        f"of jointuse needs {heads}; to migrate it, run: {hint}",
        state="behind",
        url=_where(url),
        fix=hint,
    )


def open_database(
    url: str,
    *,
    create: bool = False,
    at_head: bool = True,
    upgrade_hint: str | None = None,
    **engine_kwargs: Any,
) -> Engine:
    """An engine on the database at ``url``, checked as the module docstring says (the caller
    disposes of it). ``upgrade_hint``: the command named in refusals (default
    :func:`upgrade_command` with ``--database-url``). ``engine_kwargs`` go to
    :func:`~jointuse.core.db.make_engine`."""
    url = normalise_url(url)
    hint = upgrade_hint or upgrade_command(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not create:
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database)
            if not path.exists():
                raise DatabaseNotReady(
                    f"there is no database at {path} (no such file; a mistyped path?); to create "
                    f"and migrate one there, run: {hint}",
                    state="missing",
                    url=_where(url),
                    fix=hint,
                )
    engine = make_engine(url, **engine_kwargs)
    try:
        if create or not at_head:
            schema_state(engine, upgrade_hint=hint)
        else:
            require_head(engine, upgrade_hint=hint)
    except BaseException:
        engine.dispose()
        raise
    return engine

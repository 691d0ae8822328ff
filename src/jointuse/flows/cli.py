"""``jointuse tick`` (the market flows' clock) and ``jointuse contracts import`` (go-live).

``tick`` moves every due flow on once — automatic judgements, completions on their date,
expiries at their deadline — for cron, or with ``--at`` to let a test or a demo run a month in a
second. The server runs the same clock in the background (``JOINTUSE_FLOW_TICK_INTERVAL``).

``contracts import FILE --as tso-03`` (or ``--operator``) brings the contracts in force at go-live
into the registry: all or nothing, each bad row named, one ledger entry per contract.

Exit status: 0 done; 2 refused input (a bad row, an unknown file), 1 flows that could not move.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from jointuse.assembly import default_gate
from jointuse.core.cli import DatabaseUrl, open_cli_database, typer_app
from jointuse.core.errors import JointuseError
from jointuse.customers.imports import PLATFORM_OPERATOR, ImportRefused, import_file
from jointuse.flows.scheduler import tick

contracts_app = typer_app(
    "Retail contracts in force at go-live (the operator's import).", no_args_is_help=True
)


def _moment(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO date-time", param_hint="--at") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("give a time zone, e.g. 2024-04-01T09:00+09:00", param_hint="--at")
    return moment


def tick_command(
    database_url: DatabaseUrl = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="The moment to tick at (ISO, with a time zone); default now."),
    ] = None,
) -> None:
    """Move the market flows on: automatic judgements, completions on their date, expiries."""
    moment = _moment(at)
    engine = open_cli_database(database_url)
    try:
        report = tick(engine, gate=default_gate(), at=moment)
    finally:
        engine.dispose()
    typer.echo(
        f"{moment.isoformat()}: judged {report.judged}, completed {report.completed}, "
        f"expired {report.expired}, could not move {len(report.failed)}"
    )
    for what, why in report.failed:
        typer.echo(f"  {what}: {why}", err=True)
    if report.failed:
        raise typer.Exit(1)


@contracts_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV file (UTF-8 or Shift_JIS).", exists=True)],
    as_party: Annotated[
        str | None, typer.Option("--as", help="The area's TSO importing (e.g. tso-03).")
    ] = None,
    operator: Annotated[
        bool, typer.Option("--operator", help="Import as the platform operator (any area).")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Import the retail contracts in force at go-live (all rows or none)."""
    if (as_party is None) == (not operator):
        raise typer.BadParameter("give exactly one of --as TSO or --operator", param_hint="--as")
    by = PLATFORM_OPERATOR if operator else str(as_party)
    engine = open_cli_database(database_url)
    try:
        n = import_file(
            engine,
            file.read_bytes(),
            by=by,
            request_id=f"contracts-import-{uuid.uuid4().hex[:12]}",
            at=datetime.now(UTC),
        )
    except ImportRefused as exc:
        typer.echo(f"error: {exc.message}", err=True)
        for e in exc.errors:
            typer.echo(f"  line {e.line}: {e.field or '-'}: {e.message}", err=True)
        raise typer.Exit(2) from None
    except JointuseError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(f"imported {n} contracts as {by} (one ledger entry each)")

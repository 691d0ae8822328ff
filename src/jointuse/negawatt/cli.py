"""``jointuse negawatt``: import half-hourly meter data, settle DR events.

Both commands act **as a registered party** (``--as CODE``): an operator tool run on that
party's own system. The party is looked up in the registry with its status now, and every read
and write goes through the gate (policy decision + ledger entry), exactly as over the API.

Exit status: 0 done; 2 refused input (a malformed file, a conflict, an unknown party or event);
3 refused by the policy (the decision is on the ledger).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.progress import Progress
from sqlalchemy import Engine

from jointuse.access.gate import PolicyDenied
from jointuse.core.cli import DatabaseUrl, open_cli_database, typer_app
from jointuse.core.errors import JointuseError
from jointuse.negawatt import service
from jointuse.policy.engine import Party, PartyStatus

app = typer_app(
    "Negawatt (ネガワット取引): meter data import and DR event settlement.",
    no_args_is_help=True,
)

AsParty = Annotated[str, typer.Option("--as", help="Code of the acting party (e.g. tso-03).")]


def _party(engine: Engine, code: str, at: dt.datetime) -> Party:
    from jointuse.parties.service import get_party

    found = get_party(engine, code)
    return Party(code=found.code, kind=str(found.kind), status=PartyStatus(found.status_at(at)))


def _refuse(exc: JointuseError) -> typer.Exit:
    if isinstance(exc, PolicyDenied):
        typer.echo(f"refused by the policy: {exc.message}", err=True)
        typer.echo(f"  reason: {exc.details.get('reason')} (recorded on the ledger)", err=True)
        return typer.Exit(3)
    typer.echo(f"error: {exc.message}", err=True)
    valid = exc.details.get("valid")
    if valid is not None:
        typer.echo(f"  valid: {valid}", err=True)
    return typer.Exit(2)


@app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="CSV, XML or zip files.", exists=True)],
    as_party: AsParty,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite stored days whose values differ.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Import meter files as the area's TSO: each file all or nothing, re-imports change nothing."""
    engine = open_cli_database(database_url)
    at = dt.datetime.now(dt.UTC)
    try:
        actor = _party(engine, as_party, at)
        with Progress(transient=True) as bar:
            task = bar.add_task("importing", total=len(files))

            def done(path: Path, report: service.ImportReport) -> None:
                bar.advance(task)
                typer.echo(
                    f"{path}: {report.points} points; {report.inserted} days inserted, "
                    f"{report.unchanged} unchanged, {report.completed} completed, "
                    f"{report.replaced} replaced"
                )

            service.import_meter_files(
                engine, files, actor=actor, at=at, replace=replace, on_file=done
            )
    except JointuseError as exc:
        raise _refuse(exc) from exc
    finally:
        engine.dispose()


@app.command("settle")
def settle_command(
    event: Annotated[str, typer.Option("--event", help="The DR event's id.")],
    as_party: AsParty,
    engine_name: Annotated[
        str, typer.Option("--engine", help="local (in process) or dask (a Dask cluster).")
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address (default: a LocalCluster)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write the results CSV here.")
    ] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="Write the demand-suppression plan CSV here.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Settle one DR event as its contractor (meter data read through the gate under P5)."""
    if engine_name not in ("local", "dask"):
        typer.echo(f"error: unknown engine {engine_name!r}", err=True)
        typer.echo("  valid: local, dask", err=True)
        raise typer.Exit(2)
    mode: Literal["local", "dask"] = "dask" if engine_name == "dask" else "local"
    engine = open_cli_database(database_url)
    at = dt.datetime.now(dt.UTC)
    try:
        actor = _party(engine, as_party, at)
        result = service.run_settlement(
            engine,
            actor=actor,
            event_id=event,
            request_id=f"cli-{uuid.uuid4().hex}",
            at=at,
            mode=mode,
            scheduler=scheduler,
            progress=True,
        )
    except JointuseError as exc:
        raise _refuse(exc) from exc
    finally:
        engine.dispose()
    results = service.results_csv(result)
    if output is None:
        typer.echo(results, nl=False)
    else:
        output.write_text(results, encoding="utf-8")
        typer.echo(f"results: {output}")
    if plan is not None:
        plan.write_text(service.plan_csv(result), encoding="utf-8")
        typer.echo(f"plan: {plan}")
    st = result.run.settlement
    typer.echo(
        f"event {result.event.event_id}: {len(result.run.resource_ids)} resources, "
        f"{int((result.run.baseline.status != 0).sum())} failed, "
        f"{len(result.denied)} denied; total {st.event_total.sum():.2f} kWh",
        err=output is None,
    )

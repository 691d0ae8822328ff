"""``jointuse negawatt``: meter data import, balancing groups, DR agreements and resources,
DR events (create, amend before settlement, cancel), settlement with its options, stored runs'
results and exports.

Every command acts **as a registered party** (``--as CODE``): an operator tool run on that
party's own system. The party is looked up in the registry with its status now, and every read
and write goes through the gate (policy decision + ledger entry), exactly as over the API.

Exit status: 0 done; 2 refused input (a malformed file, a conflict, an unknown party or event);
3 refused by the policy (the decision is on the ledger).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.progress import Progress
from sqlalchemy import Engine

from jointuse.access.gate import PolicyDenied
from jointuse.core.cli import DatabaseUrl, open_cli_database, typer_app
from jointuse.core.errors import JointuseError
from jointuse.core.mail import mailer_from
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


_T = TypeVar("_T")
Db = DatabaseUrl


def _act(
    as_party: str, database_url: str | None, use_case: Callable[[Any, Party, dt.datetime], _T]
) -> _T:
    """Run ``use_case(uow, actor, now)`` in one unit of work; refusals exit 2 / 3."""
    engine = open_cli_database(database_url)
    at = dt.datetime.now(dt.UTC)
    try:
        actor = _party(engine, as_party, at)
        return service.in_unit(engine, lambda uow: use_case(uow, actor, at))
    except JointuseError as exc:
        raise _refuse(exc) from exc
    finally:
        engine.dispose()


def _request() -> str:
    return f"cli-{uuid.uuid4().hex}"


def _date(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        typer.echo(f"error: {field} {text!r} is not a date", err=True)
        typer.echo("  valid: YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None


group_app = typer.Typer(help="Balancing groups (バランシンググループ).", no_args_is_help=True)
agreement_app = typer.Typer(
    help="Customers' DR agreements (registration as it is).", no_args_is_help=True
)
resource_app = typer.Typer(
    help="DR resources (a point under an agreement, in a group).", no_args_is_help=True
)
event_app = typer.Typer(
    help="DR events: create, amend before settlement, cancel, show.", no_args_is_help=True
)
app.add_typer(group_app, name="group")
app.add_typer(agreement_app, name="agreement")
app.add_typer(resource_app, name="resource")
app.add_typer(event_app, name="event")


@group_app.command("add")
def group_add(code: str, name: str, as_party: AsParty, database_url: Db = None) -> None:
    """Register a balancing group of the acting contractor."""
    _act(
        as_party,
        database_url,
        lambda u, a, at: service.register_group(u, actor=a, code=code, name=name),
    )
    typer.echo(f"balancing group {code}")


@agreement_app.command("add")
def agreement_add(
    customer_id: Annotated[str, typer.Option("--customer")],
    supply_point_id: Annotated[str, typer.Option("--point")],
    agreed_on: Annotated[str, typer.Option("--agreed-on", help="YYYY-MM-DD (JST)")],
    as_party: AsParty,
    expires_on: Annotated[str | None, typer.Option("--expires-on")] = None,
    agreement_id: Annotated[str | None, typer.Option("--id")] = None,
    purpose: Annotated[
        list[str] | None, typer.Option("--purpose", help="A purpose of the scope (repeatable)")
    ] = None,
    item: Annotated[
        list[str] | None, typer.Option("--item", help="An item of the scope (repeatable)")
    ] = None,
    data_from: Annotated[str | None, typer.Option("--data-from", help="YYYY-MM-DD")] = None,
    data_to: Annotated[str | None, typer.Option("--data-to", help="YYYY-MM-DD (exclusive)")] = None,
    database_url: Db = None,
) -> None:
    """Propose a customer's DR agreement for a point (P5 write through the gate). It opens
    nothing until the customer confirms it with the code e-mailed to their enrolled address
    (SMTP as configured: JOINTUSE_SMTP_HOST ...)."""
    start = _date(agreed_on, "agreed_on")
    end = _date(expires_on, "expires_on") if expires_on else None
    first = _date(data_from, "data_from") if data_from else None
    last = _date(data_to, "data_to") if data_to else None
    mailer = mailer_from(os.environ)
    a = _act(
        as_party,
        database_url,
        lambda u, actor, at: service.register_agreement(
            u,
            actor=actor,
            customer_id=customer_id,
            supply_point_id=supply_point_id,
            agreed_on=start,
            expires_on=end,
            agreement_id=agreement_id,
            request_id=_request(),
            at=at,
            scope_purposes=tuple(purpose) if purpose else None,
            scope_items=tuple(item) if item else None,
            data_from=first,
            data_to=last,
            mailer=mailer,
        ),
    )
    typer.echo(f"agreement {a.agreement_id} proposed: it opens nothing until the customer confirms")


@agreement_app.command("withdraw")
def agreement_withdraw(agreement_id: str, as_party: AsParty, database_url: Db = None) -> None:
    """Record the customer's withdrawal (the relation ends now)."""
    _act(
        as_party,
        database_url,
        lambda u, actor, at: service.withdraw_agreement(
            u, actor=actor, agreement_id=agreement_id, request_id=_request(), at=at
        ),
    )
    typer.echo(f"agreement {agreement_id} withdrawn")


@resource_app.command("add")
def resource_add(
    agreement_id: Annotated[str, typer.Option("--agreement")],
    group: Annotated[str, typer.Option("--group")],
    as_party: AsParty,
    database_url: Db = None,
) -> None:
    """Register the agreement's point as a DR resource in one of the contractor's groups."""
    r = _act(
        as_party,
        database_url,
        lambda u, actor, at: service.register_resource(
            u,
            actor=actor,
            agreement_id=agreement_id,
            group_code=group,
            request_id=_request(),
            at=at,
        ),
    )
    typer.echo(f"resource {r.supply_point_id} in {r.balancing_group_code}")


def _event_line(e: Any) -> str:
    days = e.day.isoformat() + (f"..{e.last_day.isoformat()}" if e.last_day else "")
    return (
        f"event {e.event_id}: {days} slots {e.first_slot}-{e.last_slot} {e.direction} "
        f"{e.status}, {len(e.resources)} resources"
    )


@event_app.command("create")
def event_create(
    day: Annotated[str, typer.Option("--day", help="YYYY-MM-DD (JST)")],
    first_slot: Annotated[int, typer.Option("--first-slot", help="1-48 (1 = 00:00-00:30)")],
    last_slot: Annotated[int, typer.Option("--last-slot")],
    resources: Annotated[list[str], typer.Option("--resource", help="Supply point (repeat).")],
    as_party: AsParty,
    last_day: Annotated[str | None, typer.Option("--last-day")] = None,
    direction: Annotated[str, typer.Option("--direction", help="reduce | increase")] = "reduce",
    event_id: Annotated[str | None, typer.Option("--id")] = None,
    database_url: Db = None,
) -> None:
    """Create a DR event over registered resources (the same slots on each day)."""
    d = _date(day, "day")
    ld = _date(last_day, "last_day") if last_day else None
    e = _act(
        as_party,
        database_url,
        lambda u, actor, at: service.create_event(
            u,
            actor=actor,
            day=d,
            last_day=ld,
            first_slot=first_slot,
            last_slot=last_slot,
            resources=resources,
            direction=direction,  # type: ignore[arg-type]  # checked by the use case
            event_id=event_id,
            at=at,
        ),
    )
    typer.echo(_event_line(e))


@event_app.command("amend")
def event_amend(
    event_id: str,
    as_party: AsParty,
    day: Annotated[str | None, typer.Option("--day")] = None,
    last_day: Annotated[str | None, typer.Option("--last-day")] = None,
    first_slot: Annotated[int | None, typer.Option("--first-slot")] = None,
    last_slot: Annotated[int | None, typer.Option("--last-slot")] = None,
    resources: Annotated[list[str] | None, typer.Option("--resource")] = None,
    direction: Annotated[str | None, typer.Option("--direction")] = None,
    database_url: Db = None,
) -> None:
    """Amend an event that has not been settled."""
    d = _date(day, "day") if day else None
    ld = _date(last_day, "last_day") if last_day else None
    e = _act(
        as_party,
        database_url,
        lambda u, actor, at: service.amend_event(
            u,
            actor=actor,
            event_id=event_id,
            day=d,
            last_day=ld,
            first_slot=first_slot,
            last_slot=last_slot,
            resources=resources or None,
            direction=direction,  # type: ignore[arg-type]  # checked by the use case
        ),
    )
    typer.echo(_event_line(e))


@event_app.command("cancel")
def event_cancel(event_id: str, as_party: AsParty, database_url: Db = None) -> None:
    """Cancel an event that has not been settled."""
    e = _act(
        as_party,
        database_url,
        lambda u, actor, at: service.cancel_event(u, actor=actor, event_id=event_id, at=at),
    )
    typer.echo(_event_line(e))


@event_app.command("show")
def event_show(event_id: str, as_party: AsParty, database_url: Db = None) -> None:
    """An event and its stored settlement runs (id, time, method, total, results digest)."""
    e, runs = _act(
        as_party,
        database_url,
        lambda u, actor, at: service.event_runs(u, actor=actor, event_id=event_id),
    )
    typer.echo(_event_line(e))
    for run in runs:
        method = json.loads(run.params)["method"]
        total = json.loads(run.summary)["contractor"]["suppressed_kwh"]
        typer.echo(
            f"  run {run.run_id} {run.created_at.isoformat()} {total} kWh "
            f"results {run.results_digest[:16]}  ({method})"
        )


@event_app.command("list")
def event_list(as_party: AsParty, database_url: Db = None) -> None:
    """The acting contractor's events."""
    events = _act(as_party, database_url, lambda u, actor, at: service.list_events(u, actor=actor))
    for e in events:
        typer.echo(_event_line(e))


def _options(option: list[str] | None, options_file: Path | None) -> dict[str, Any]:
    given: dict[str, Any] = {}
    if options_file is not None:
        given.update(json.loads(options_file.read_text(encoding="utf-8")))
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep:
            typer.echo(f"error: --option {item!r} is not KEY=VALUE", err=True)
            raise typer.Exit(2)
        try:
            given[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            given[key.strip()] = value
    return given


@app.command("settle")
def settle_command(
    event: Annotated[str, typer.Option("--event", help="The DR event's id.")],
    as_party: AsParty,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            help="A settlement option KEY=VALUE (JSON value), e.g. adjustment=multiplicative, "
            "'adjustment_clamp=[0.8,1.2]', 'rounding={\"mode\":\"half_up\"}' (repeat).",
        ),
    ] = None,
    options_file: Annotated[
        Path | None, typer.Option("--options-file", help="The options as a JSON object.")
    ] = None,
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
    slots: Annotated[
        Path | None, typer.Option("--slots", help="Write the per-slot CSV here.")
    ] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="Write the demand-suppression plan CSV here.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Settle one DR event as its contractor and store the run (meter data read through the
    gate under P5); print or write its results."""
    from jointuse.negawatt.options import options_from

    if engine_name not in ("local", "dask"):
        typer.echo(f"error: unknown engine {engine_name!r}", err=True)
        typer.echo("  valid: local, dask", err=True)
        raise typer.Exit(2)
    mode: Literal["local", "dask"] = "dask" if engine_name == "dask" else "local"
    engine = open_cli_database(database_url)
    at = dt.datetime.now(dt.UTC)
    try:
        params, rounding = options_from(_options(option, options_file))
        actor = _party(engine, as_party, at)
        result = service.run_settlement(
            engine,
            actor=actor,
            event_id=event,
            request_id=_request(),
            at=at,
            mode=mode,
            scheduler=scheduler,
            progress=True,
            params=params,
            rounding=rounding,
        )
        run, _, rows = service.in_unit(
            engine,
            lambda u: service.read_run(
                u, actor=actor, run_id=result.run_id, request_id=_request(), at=at
            ),
        )
    except JointuseError as exc:
        raise _refuse(exc) from exc
    finally:
        engine.dispose()
    _write(run, rows, output, slots, plan)
    summary = json.loads(run.summary)
    failed = sum(n for s, n in summary["resource_days_by_status"].items() if s != "ok")
    typer.echo(
        f"run {run.run_id} of event {run.event_id}: {len(result.event.resources)} resources, "
        f"{failed} failed resource-days, {len(result.denied)} denied; "
        f"total {summary['contractor']['suppressed_kwh']} kWh",
        err=output is None,
    )


def _write(run: Any, rows: Any, output: Path | None, slots: Path | None, plan: Path | None) -> None:
    results = service.results_csv(run, rows)
    if output is None:
        typer.echo(results, nl=False)
    else:
        output.write_text(results, encoding="utf-8")
        typer.echo(f"results: {output}")
    for path, build, label in (
        (slots, service.slots_csv, "slots"),
        (plan, service.plan_csv, "plan"),
    ):
        if path is not None:
            path.write_text(build(run, rows), encoding="utf-8")
            typer.echo(f"{label}: {path}")


@app.command("results")
def results_command(
    run_id: Annotated[str, typer.Option("--run", help="A stored settlement run's id.")],
    as_party: AsParty,
    output: Annotated[Path | None, typer.Option("--output")] = None,
    slots: Annotated[Path | None, typer.Option("--slots")] = None,
    plan: Annotated[Path | None, typer.Option("--plan")] = None,
    database_url: Db = None,
) -> None:
    """Export a stored run of the acting contractor (each point read through the gate)."""
    run, _, rows = _act(
        as_party,
        database_url,
        lambda u, actor, at: service.read_run(
            u, actor=actor, run_id=run_id, request_id=_request(), at=at
        ),
    )
    _write(run, rows, output, slots, plan)


@app.command("point-results")
def point_results_command(
    supply_point_id: str,
    as_party: AsParty,
    purpose: Annotated[str, typer.Option("--purpose")] = "P5_negawatt",
    database_url: Db = None,
) -> None:
    """A point's stored settlement results as JSON, as the policy lets the acting party see
    them (the DR contractor, the supplying retailer, the area's TSO, OCCTO while it relays a
    flow)."""
    rows = _act(
        as_party,
        database_url,
        lambda u, actor, at: service.read_point_results(
            u,
            actor=actor,
            supply_point_id=supply_point_id,
            purpose=purpose,
            request_id=_request(),
            at=at,
        ),
    )
    typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))

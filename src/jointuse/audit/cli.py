"""``jointuse ledger show|export`` (for auditors) and ``jointuse incident scope``.

Registered by the composition root of the CLI (:mod:`jointuse.cli`): :func:`register_ledger`
adds ``show`` and ``export`` to the ``ledger`` group; :data:`incident_app` is the ``incident``
group. Every command records its reading on the ledger first (:mod:`.ledger_search`).

Exit codes: 0 done; 2 bad input (a filter that does not parse, an unknown format) or a
database that cannot be opened.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from jointuse.audit import incident as incidents
from jointuse.audit import ledger_search as search
from jointuse.core.cli import DatabaseUrl, open_cli_database, typer_app
from jointuse.core.errors import JointuseError

Customer = Annotated[
    str | None, typer.Option("--customer", help="Only entries about this customer ID.")
]
Point = Annotated[
    str | None,
    typer.Option("--point", help="Only entries about this supply point (22 digits, as printed)."),
]
PartyOpt = Annotated[str | None, typer.Option("--party", help="Only entries of this party code.")]
User = Annotated[
    str | None,
    typer.Option("--user", help="Only entries of this acting user (the person within a party)."),
]
PurposeOpt = Annotated[str | None, typer.Option("--purpose", help="Only entries of this purpose.")]
DecisionOpt = Annotated[
    str | None, typer.Option("--decision", help="Only allowed or only denied entries.")
]
Since = Annotated[
    str | None,
    typer.Option("--from", help="From this moment (YYYY-MM-DD is JST midnight; inclusive)."),
]
Until = Annotated[
    str | None,
    typer.Option("--to", help="Up to this moment (YYYY-MM-DD: the whole JST day; exclusive)."),
]
Auditor = Annotated[
    str,
    typer.Option(
        "--auditor", help="Who is reading (name or staff ID): recorded on the ledger as the user."
    ),
]


def _fail(exc: JointuseError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    valid = exc.details.get("valid")
    if valid:
        shown = ", ".join(valid) if isinstance(valid, list | tuple) else str(valid)
        typer.echo(f"  valid: {shown}", err=True)
    return typer.Exit(2)


def _filter(**given: str | None) -> search.LedgerFilter:
    try:
        return search.LedgerFilter.parse(**given)
    except JointuseError as exc:
        raise _fail(exc) from exc


def _line(row: dict[str, Any]) -> str:
    items = ",".join(row["items_granted"]) or ",".join(
        f"{r['item']}:{r['reason']}" for r in row["items_refused"]
    )
    who = row["party"] + (f"/{row['acting_user']}" if row["acting_user"] else "")
    return (
        f"{row['seq']:>8}  {row['recorded_at']}  {who:<20} {row['purpose']:<30} "
        f"{row['action']:<5} {row['decision']:<7} customer={row['customer_id'] or '-'} "
        f"point={row['supply_point_id'] or '-'} items={items or '-'}"
    )


def register_ledger(ledger_app: typer.Typer) -> None:
    """Add ``show`` and ``export`` to the ``ledger`` command group."""
    ledger_app.command("show")(show_command)
    ledger_app.command("export")(export_command)


def show_command(
    auditor: Auditor,
    customer: Customer = None,
    point: Point = None,
    party: PartyOpt = None,
    user: User = None,
    purpose: PurposeOpt = None,
    decision: DecisionOpt = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, typer.Option("--limit", help="Entries per page (newest first).")] = 50,
    before: Annotated[
        int | None,
        typer.Option("--before", help="The next page: entries before this seq (as printed)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Show ledger entries for an audit, newest first, a page at a time.

    The reading is recorded on the ledger (party operator, the auditor as the user)."""
    where = _filter(
        customer=customer,
        point=point,
        party=party,
        user=user,
        purpose=purpose,
        decision=decision,
        since=since,
        until=until,
    )
    engine = open_cli_database(database_url)
    try:
        search.record_reading(engine, auditor=auditor, purpose="audit:ledger_show", where=where)
        records, next_before = search.show_page(engine, where, limit=limit, before_seq=before)
    except JointuseError as exc:
        raise _fail(exc) from exc
    finally:
        engine.dispose()
    for record in records:
        row = search.record_row(record)
        typer.echo(json.dumps(row, ensure_ascii=False) if as_json else _line(row))
    if not as_json:
        typer.echo(f"{len(records)} entries" + (" (no match)" if not records else ""))
        if next_before is not None:
            typer.echo(f"more: add --before {next_before}")


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None or str(path) == "-":
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as out:
        yield out


def export_command(
    auditor: Auditor,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: standard output)."),
    ] = None,
    customer: Customer = None,
    point: Point = None,
    party: PartyOpt = None,
    user: User = None,
    purpose: PurposeOpt = None,
    decision: DecisionOpt = None,
    since: Since = None,
    until: Until = None,
    page_size: Annotated[
        int, typer.Option("--page-size", help="Entries read per transaction.")
    ] = search.DEFAULT_PAGE,
    database_url: DatabaseUrl = None,
) -> None:
    """Export every matching ledger entry, oldest first, as JSON Lines or CSV (streamed in pages,
    with a progress bar on standard error).

    The reading is recorded on the ledger before the first entry is read."""
    if fmt not in ("jsonl", "csv"):
        raise _fail(JointuseError(f"unknown format {fmt!r}", valid=["jsonl", "csv"]))
    where = _filter(
        customer=customer,
        point=point,
        party=party,
        user=user,
        purpose=purpose,
        decision=decision,
        since=since,
        until=until,
    )
    engine = open_cli_database(database_url)
    written = 0
    try:
        search.record_reading(engine, auditor=auditor, purpose="audit:ledger_export", where=where)
        with (
            _output(output) as out,
            Progress(
                TextColumn("exporting"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[written]} entries"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            ) as bar,
        ):
            task = bar.add_task("export", total=None, written=0)

            def progress(p: search.StreamProgress) -> None:
                span = max(p.high - p.low + 1, 1)
                bar.update(task, total=span, completed=p.reached - p.low + 1, written=p.yielded)

            writer = csv.writer(out) if fmt == "csv" else None
            if writer is not None:
                writer.writerow(search.CSV_COLUMNS)
            for record in search.stream(engine, where, page_size=page_size, progress=progress):
                if writer is not None:
                    writer.writerow(search.csv_row(record))
                else:
                    out.write(json.dumps(search.record_row(record), ensure_ascii=False) + "\n")
                written += 1
    except JointuseError as exc:
        raise _fail(exc) from exc
    finally:
        engine.dispose()
    if output is not None and str(output) != "-":
        typer.echo(f"exported {written} entries to {output}", err=True)


incident_app = typer_app(
    "Incidents (漏えい等): what a credential reached, against the reporting thresholds.",
    no_args_is_help=True,
)


@incident_app.command("scope")
def scope_command(
    auditor: Auditor,
    since: Annotated[str, typer.Option("--from", help="Start of the window (inclusive).")],
    until: Annotated[str, typer.Option("--to", help="End of the window (YYYY-MM-DD: inclusive).")],
    party: Annotated[
        str | None, typer.Option("--party", help="Every credential of this party code.")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="This acting user (the person within a party).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="This token: its id, ju_<id> or the whole token."),
    ] = None,
    improper_purpose: Annotated[
        bool,
        typer.Option(
            "--improper-purpose",
            help="The cause is an improper purpose (不正の目的), insiders included: 60-day final.",
        ),
    ] = False,
    discovered: Annotated[
        str | None,
        typer.Option(
            "--discovered", help="When the incident became known (default: now); deadlines run."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Scope an incident: the customers and items one credential reached in a window (allowed
    entries only), checked against the reporting thresholds of APPI Art. 26 and Enforcement
    Rules Art. 7, with the deadlines, the figures a report needs and the people to notify.

    Give exactly one of --party, --user, --token. The reading is recorded on the ledger."""
    try:
        question = incidents.ScopeQuestion.parse(
            party=party,
            user=user,
            token=token,
            since=since,
            until=until,
            improper_purpose=improper_purpose,
            discovered=discovered,
        )
    except JointuseError as exc:
        raise _fail(exc) from exc
    engine = open_cli_database(database_url)
    try:
        report = incidents.scope(engine, question, auditor=auditor)
    except JointuseError as exc:
        raise _fail(exc) from exc
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(incidents.format_report(report), nl=False)

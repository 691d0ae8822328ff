"""``jointuse requests list|process|refuse``: the customers' rights requests, for operators.

``list`` prints one request a line (ID, kind, state, received, due, overdue mark, parties and
their answers) or, with ``--json``, as the API shows them; ``--overdue``: only those past their
deadline and not final. ``process`` prepares the received disclosures (the data read through the
gate's subject door; the customer told by e-mail); ``refuse`` refuses one on an Art. 33(2)
ground, which is recorded and told to the customer.

Exit status: 0 done (``list --overdue``: 1 when any is overdue); 2 refused input.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Annotated

import typer

from jointuse.core.cli import DatabaseUrl, open_cli_database, typer_app
from jointuse.core.errors import JointuseError
from jointuse.core.mail import mailer_from
from jointuse.rights import requests_service as service
from jointuse.rights.requests import DISCLOSURE_REFUSAL_GROUNDS, KINDS

requests_app = typer_app(help="Customers' rights requests: disclosure, correction, stop-use.")

At = Annotated[
    datetime | None,
    typer.Option(help="The moment to judge deadlines at (ISO 8601 with offset; default now)."),
]


def _at(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:
        typer.echo("error: --at needs an offset, e.g. 2026-12-03T09:00+09:00", err=True)
        raise typer.Exit(2)
    return at


@requests_app.command("list")
def list_command(
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only requests past their deadline, not final.")
    ] = False,
    kind: Annotated[str | None, typer.Option(help=f"Only this kind: {', '.join(KINDS)}.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON, as the API shows them.")] = False,
    at: At = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The requests, soonest deadline first."""
    if kind is not None and kind not in KINDS:
        typer.echo(f"error: unknown kind {kind!r}; valid: {', '.join(KINDS)}", err=True)
        raise typer.Exit(2)
    moment = _at(at)
    engine = open_cli_database(database_url)
    try:
        found = service.operator_list(engine, at=moment, overdue=overdue, kind=kind)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        for r in found:
            parties = " ".join(f"{p['party']}={p['state']}" for p in r["parties"])
            mark = "OVERDUE" if r["overdue"] else "-"
            typer.echo(
                f"{r['id']}\t{r['kind']}\t{r['state']}\t{r['received_at']}\t"
                f"due {r['due_at']}\t{mark}\t{parties}"
            )
        typer.echo(f"{len(found)} request(s)", err=True)
    if overdue and found:
        raise typer.Exit(1)


@requests_app.command("process")
def process_command(
    request_id: Annotated[
        str | None, typer.Argument(help="One request's ID (default: every received one).")
    ] = None,
    at: At = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Prepare received disclosures; each customer is told by e-mail."""
    from jointuse.assembly import default_gate

    engine = open_cli_database(database_url)
    try:
        done = service.process_disclosures(
            engine, default_gate(), mailer_from(os.environ), at=_at(at), only=request_id
        )
    except JointuseError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    for rid in done:
        typer.echo(f"{rid}\tready")
    typer.echo(f"{len(done)} disclosure(s) prepared", err=True)


@requests_app.command("refuse")
def refuse_command(
    request_id: Annotated[str, typer.Argument(help="The disclosure request's ID.")],
    ground: Annotated[
        str, typer.Option(help=f"The Art. 33(2) ground: {', '.join(DISCLOSURE_REFUSAL_GROUNDS)}.")
    ],
    note: Annotated[str, typer.Option(help="What the customer is told beside the ground.")] = "",
    at: At = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Refuse a disclosure on an Art. 33(2) ground (recorded; the customer is told)."""
    engine = open_cli_database(database_url)
    try:
        r = service.refuse_disclosure(
            engine, mailer_from(os.environ), request_id, ground=ground, note=note, at=_at(at)
        )
    except JointuseError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(f"{r['id']}\t{r['state']}\t{r['outcome']['ground']}")

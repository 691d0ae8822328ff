"""``jointuse retention run [--dry-run]``: personal data goes when its purpose has ended."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jointuse.assembly import default_gate
from jointuse.core.cli import DatabaseUrl, open_cli_database, typer_app
from jointuse.core.errors import ValidationError
from jointuse.retention.config import CATEGORIES, VARIABLES, load_policy
from jointuse.retention.service import run

app = typer_app(
    help="Retention (保存期間): pseudonymise basic data, shred ledger keys and erase portal "
    "accounts of customers whose contracts ended longer ago than each category's retention "
    "period."
)


@app.command("run")
def run_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what is due; change nothing.")
    ] = False,
    today: Annotated[
        str | None,
        typer.Option("--today", help="The day to run as (YYYY-MM-DD); default: today (UTC)."),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
    database_url: DatabaseUrl = None,
) -> None:
    """Pseudonymise basic data and shred ledger subject keys of customers past retention.

    Basic data is erased through the gate by the platform operator (purpose
    retention_erasure); the key shredding is recorded as party system:retention. Each action
    is on the ledger, naming nobody in clear."""
    try:
        policy = load_policy()
        day = date.fromisoformat(today) if today else None
    except ValidationError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    except ValueError as exc:
        typer.echo(f"error: --today {today!r} is not a date (YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from exc
    engine = open_cli_database(database_url)
    try:
        with Progress(
            TextColumn("retention"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
            disable=not progress or dry_run,
        ) as bar:
            task = bar.add_task("retention", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = run(
                engine, policy, gate=default_gate(), today=day, dry_run=dry_run,
                progress=advance,
            )  # fmt: skip
    finally:
        engine.dispose()
    periods = ", ".join(f"{c} {policy.days(c)} days ({VARIABLES[c]})" for c in CATEGORIES)
    typer.echo(f"retention periods: {periods}")
    verb = "due" if dry_run else "done"
    for category in CATEGORIES:
        noun = "account(s)" if category == "account" else "customer(s)"
        typer.echo(f"{category}: {result.done[category]} {noun} {verb}")
    typer.echo(
        f"ledger subject keys {'to shred' if dry_run else 'shredded'}: {result.keys_shredded}"
    )
    if result.refused:
        typer.echo(
            f"refused by the policy (on the ledger; nothing changed): {len(result.refused)}",
            err=True,
        )
        for due, message in result.refused:
            typer.echo(f"  {due.category}: {message}", err=True)
    if result.legacy_entries:
        typer.echo(
            f"entries from before pseudonyms naming them in clear: {result.legacy_entries} "
            "(kept in the chain; hidden from lookups)"
        )
    if result.refused:
        raise typer.Exit(1)

"""``jointuse usage-inquiry records``: the provision records of the usage inquiry by consent.

One record a line — when, recipient, acting user, consent, items, data period, days — or, with
``--json``, as the customer's page shows them. The reading is recorded on the ledger (party
``operator``, the auditor as the user) before anything is shown.

Exit status: 0 done; 2 refused input.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from jointuse.core.cli import DatabaseUrl, open_cli_database, typer_app
from jointuse.core.errors import JointuseError
from jointuse.usage import inquiry

usage_app = typer_app(help="Usage inquiry by consent (使用量情報照会): provision records.")


@usage_app.command("records")
def records_command(
    customer: Annotated[str, typer.Option(help="The customer ID whose records are shown.")],
    auditor: Annotated[
        str,
        typer.Option(help="Who is reading (name or staff ID): recorded on the ledger as the user."),
    ],
    point: Annotated[str | None, typer.Option(help="Only this supply point.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON, one object a record.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The provisions made on a customer's usage-inquiry consents, oldest first."""
    engine = open_cli_database(database_url)
    try:
        found = inquiry.operator_records(
            engine, auditor=auditor, customer_id=customer, supply_point_id=point
        )
    except JointuseError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        for r in found:
            typer.echo(
                f"{r['provided_at']}\t{r['recipient']}\t{r['acting_user'] or '-'}\t"
                f"consent {r['consent_id']}\t{','.join(r['items'])}\t"
                f"{r['data_from']}..{r['data_to']}\t{r['days']} day(s)"
            )
    typer.echo(f"{len(found)} record(s)", err=True)

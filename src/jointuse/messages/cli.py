"""``jointuse inbox list|ack --as PARTY``: a party's inbox, for the platform's operators.

The operator reads and acknowledges as the party, without its token (it runs the platform and
its database); messages carry references and states, no personal data, so nothing here passes
the gate. ``list`` prints one message a line (ID, time, kind, references, body) or, with
``--json``, the messages as the API answers them; ``ack`` acknowledges IDs (twice is harmless; an
ID that is not the party's refuses the whole call, nothing marked).

Exit status: 0 done; 2 refused input (an unknown party, another party's message ID).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from jointuse.core.cli import DatabaseUrl, open_cli_database, typer_app
from jointuse.core.errors import JointuseError
from jointuse.messages.service import MAX_PEEK, acknowledge_for, inbox_of

inbox_app = typer_app(help="A party's inbox (peek and acknowledge).")

AsParty = Annotated[str, typer.Option("--as", help="The party whose inbox it is (its code).")]


@inbox_app.command("list")
def list_command(
    as_party: AsParty,
    after: Annotated[int, typer.Option(min=0, help="Only messages after this ID.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PEEK, help="At most this many.")] = 100,
    kind: Annotated[str | None, typer.Option(help="Only this kind (e.g. date_fixed).")] = None,
    include_acked: Annotated[
        bool, typer.Option("--all", help="Acknowledged messages too.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON, as the API answers.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The party's messages, oldest first (unacknowledged only unless --all)."""
    engine = open_cli_database(database_url)
    try:
        found = inbox_of(
            engine, as_party, after=after, limit=limit, kind=kind, include_acked=include_acked
        )
    except JointuseError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    if as_json:
        next_after = found[-1].id if found else after
        payload = {"messages": [m.as_dict() for m in found], "next_after": next_after}
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    for m in found:
        refs = " ".join(f"{k}={v}" for k, v in sorted(m.subject_ref.items()))
        body = json.dumps(m.body, ensure_ascii=False, sort_keys=True)
        acked = " (acknowledged)" if m.acked_at else ""
        typer.echo(f"{m.id}\t{m.created_at.isoformat()}\t{m.kind}\t{refs}\t{body}{acked}")
    typer.echo(f"{len(found)} message(s) for {as_party}", err=True)


@inbox_app.command("ack")
def ack_command(
    as_party: AsParty,
    ids: Annotated[list[int], typer.Argument(help="Message IDs to acknowledge.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Acknowledge the party's messages IDS."""
    engine = open_cli_database(database_url)
    try:
        n = acknowledge_for(engine, as_party, ids, at=datetime.now(UTC))
    except JointuseError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(f"acknowledged {n} of {len(set(ids))} (the others were already)")

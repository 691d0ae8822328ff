"""The ``jointuse`` command: one sub-command group per area (composition root of the CLI)."""

from __future__ import annotations

from jointuse.audit.cli import incident_app, register_ledger
from jointuse.core.cli import db_app, typer_app
from jointuse.demo.cli import register as register_demo
from jointuse.flows.cli import contracts_app, tick_command
from jointuse.ledger.cli import app as ledger_app
from jointuse.messages.cli import inbox_app
from jointuse.negawatt.cli import app as negawatt_app
from jointuse.parties.cli import party_app, token_app, user_app
from jointuse.policy.cli import app as policy_app
from jointuse.retention.cli import app as retention_app
from jointuse.rights.cli import requests_app
from jointuse.usage.cli import usage_app

app = typer_app(
    "jointuse — joint use (共同利用) of electricity customers' personal data.",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
register_ledger(ledger_app)
app.add_typer(incident_app, name="incident")
app.add_typer(party_app, name="party")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
app.add_typer(negawatt_app, name="negawatt")
app.add_typer(contracts_app, name="contracts")
app.add_typer(inbox_app, name="inbox")
app.add_typer(requests_app, name="requests")
app.add_typer(retention_app, name="retention")
app.add_typer(usage_app, name="usage-inquiry")
app.command("tick")(tick_command)
register_demo(app)


def main() -> None:
    app()

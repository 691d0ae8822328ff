"""``jointuse demo-scenario``: the market flows end to end over real HTTP; the ledger verifies."""

from __future__ import annotations

from typer.testing import CliRunner

from jointuse.cli import app


def test_demo_scenario_runs_every_flow_and_the_ledger_verifies() -> None:
    result = CliRunner().invoke(app, ["demo-scenario"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "P3 設備情報照会 as applicant: 16 items" in out
    assert "judged 1: ok → matched" in out
    assert "inbox coop-mirai  forwarding_received" in out
    assert out.count("completed 1") == 1 and "completed 2" in out
    assert "entries verified" in out and "BROKEN" not in out

"""The composition root of the gate: one gate per policy for every entry point, refusing a policy
with errors or one the installed areas cannot serve (``--policy`` / ``JOINTUSE_POLICY``)."""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from jointuse.app import create_app
from jointuse.assembly import default_gate, gate_for, load_operator_policy
from jointuse.cli import app as cli
from jointuse.core.errors import ConfigError
from jointuse.core.settings import load_settings
from jointuse.parties import service as parties

SHIPPED = (resources.files("jointuse") / "data" / "policy.toml").read_text(encoding="utf-8")
P3_RULE = """[[rule]]
id = "P3-retailer"
purpose = "P3_supply_point_confirmation"
party_kind = "retailer"
relations = ["applicant"]
read = ["supply_point.*"]
write = []
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_policy_with_errors_is_refused(tmp_path: Path) -> None:
    bad = _write(tmp_path, SHIPPED.replace("are {tsos}.", "are {nonsense}."))
    with pytest.raises(ConfigError, match="placeholder"):
        load_operator_policy(bad)
    settings = replace(load_settings({}), policy_path=str(bad))
    with pytest.raises(ConfigError):
        create_app(settings, environ={}, run_sealer=False)
    result = CliRunner().invoke(cli, ["serve", "--policy", str(bad), "--port", "1"])
    assert result.exit_code != 0
    assert "placeholder" in result.output


def test_the_operators_policy_is_the_one_the_app_decides_with(
    tmp_path: Path, engine: Engine
) -> None:
    assert P3_RULE in SHIPPED
    custom = _write(tmp_path, SHIPPED.replace(P3_RULE, ""))
    gate = gate_for(custom)
    assert gate is not default_gate()
    assert "P3-retailer" not in {r.id for r in gate.policy.rules}
    assert gate_for(custom) is gate  # built once per policy file

    parties.seed_reference_parties(engine)
    parties.add_party(
        engine,
        code="r-one",
        kind="retailer",
        name_ja="一",
        name_en="One",
        meti_registration="A0001",
    )
    token = parties.issue_token(engine, "r-one").secret
    settings = replace(load_settings({}), policy_path=str(custom))
    app = create_app(settings, engine=engine, run_sealer=False, environ={})
    with TestClient(app) as client:
        r = client.get(
            "/v1/supply-points/0312345678901234567890",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 403, r.text
    assert r.json()["reason"] == "no_rule"  # the shipped policy would say relation_missing

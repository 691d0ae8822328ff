"""``policy check --database-url``: every controller's address and representative, and where
each joint user is (APPI Art. 28), from the party registry, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from jointuse.cli import app
from jointuse.core.errors import ValidationError
from jointuse.parties import service as parties


def test_registry_controllers_and_a_joint_user_abroad(engine: Engine, database_url: str) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    parties.seed_reference_parties(engine, at)
    parties.add_party(
        engine,
        code="r-one",
        kind="retailer",
        name_ja="ワン電力",
        name_en="One Power",
        meti_registration="A0101",
        address="東京都千代田区1-1",
        representative="代表取締役 一郎",
        at=at,
    )
    parties.add_party(
        engine,
        code="dr-far",
        kind="dr_contractor",
        name_ja="ファー",
        name_en="Far DR Pte. Ltd.",
        contractor_code="DR-0001",
        address="1 Raffles Place, Singapore",
        country="ｓｇ",  # full-width, lower case: SG
        at=at,
    )
    assert parties.get_party_record(engine, "dr-far").country == "SG"
    assert parties.get_party_record(engine, "r-one").country == "JP"
    result = CliRunner().invoke(
        app, ["policy", "check", "--format", "json", "--database-url", database_url]
    )
    assert result.exit_code == 1, result.output
    found = json.loads(result.stdout)["findings"]
    by = {(f["code"], f["subject"]): f for f in found}
    assert ("controller-representative-missing", "controllers of kind 'dr_contractor'") in by
    assert ("controller-address-missing", "controllers of kind 'dr_contractor'") not in by
    assert ("controller-address-missing", "controllers of kind 'retailer'") not in by
    abroad = by[("joint-user-abroad", "controllers of kind 'dr_contractor'")]
    assert "dr-far (SG)" in abroad["message"] and "Art. 28" in abroad["message"]
    # the registry replaces the warning for the kinds it holds
    assert ("controller-details-from-registry", "controllers of kind 'retailer'") not in by
    shown = CliRunner().invoke(app, ["party", "show", "dr-far", "--database-url", database_url])
    assert "country: SG" in shown.stdout


def test_a_country_that_is_not_a_code_is_refused(engine: Engine) -> None:
    with pytest.raises(ValidationError, match="ISO 3166-1 alpha-2") as caught:
        parties.add_party(
            engine,
            code="r-x",
            kind="retailer",
            name_ja="エックス",
            name_en="X",
            meti_registration="A0999",
            country="Japan",
        )
    assert caught.value.field == "country"
    assert [p.code for p in parties.list_parties(engine)] == []

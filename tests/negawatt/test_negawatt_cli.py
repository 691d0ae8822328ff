"""``jointuse negawatt import`` / ``settle`` with Typer's runner on a migrated database."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from jointuse.assembly import default_gate
from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.customers import service as customers
from jointuse.customers.model import ContractKind, Customer, RetailContract, SupplyPoint
from jointuse.demo.dr import confirm_as_customer, propose_and_confirm
from jointuse.negawatt import service
from jointuse.negawatt.cli import app
from jointuse.negawatt.meterdata import MeterDay
from jointuse.parties.service import add_party, seed_reference_parties
from jointuse.policy.engine import Party
from seeding import seed_contract

GATE = default_gate()

DATA = Path(__file__).parent / "data"
P1 = "0312345678901234567890"
P2 = "0398765432109876543210"
SEEDED_AT = dt.datetime(2024, 1, 1, tzinfo=JST)
runner = CliRunner()


@pytest.fixture
def db(database_url: str, engine: Engine) -> str:
    seed_reference_parties(engine, at=SEEDED_AT)
    add_party(
        engine,
        code="r-one",
        kind="retailer",
        name_ja="小売",
        name_en="Retail One",
        meti_registration="A0001",
        at=SEEDED_AT,
    )
    add_party(
        engine,
        code="dr-one",
        kind="dr_contractor",
        name_ja="DR",
        name_en="DR One",
        contractor_code="DR001",
        at=SEEDED_AT,
    )
    point = SupplyPoint(
        supply_point_id=SupplyPointId(P1),
        supply_area="03",
        service_menu="lv_metered_lighting_b",
        supply_method="single_phase_3_wire",
        capacity_determination_method="ampere_breaker",
        contract_state="active",
    )
    customer = Customer.create(
        customer_id="c-1",
        name="田中 三郎",
        name_kana="タナカ サブロウ",
        postal_code="150-0001",
        prefecture="東京都",
        address_rest="渋谷区神宮前1-1",
        phone="03-2222-3333",
        membership="non_member",
    )
    for p in (point, replace(point, supply_point_id=SupplyPointId(P2))):
        with UnitOfWork(engine) as u:
            customers.save_supply_point(
                u, gate=GATE, actor=Party("tso-03", "tso"), point=p, request_id="p", at=SEEDED_AT
            )
    with UnitOfWork(engine) as u:
        seed_contract(
            u,
            customer,
            RetailContract(
                "K-1", ContractKind.STANDARD, "r-one", "c-1", SupplyPointId(P1), dt.date(2024, 1, 1)
            ),
            at=SEEDED_AT,
        )
    return database_url


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_import_twice_changes_nothing_and_a_zip_is_accepted(db: str, tmp_path: Path) -> None:
    archive = tmp_path / "delivery.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(DATA / "usage.xml", "usage.xml")
    code, out, err = _run(
        "import", str(DATA / "long.csv"), str(archive), "--as", "tso-03", "--database-url", db
    )
    assert code == 0, err
    assert "2 points; 4 days inserted" in out
    assert "1 points; 0 days inserted, 1 unchanged" in out  # the XML repeats 1 July of P1
    code, out, _ = _run("import", str(DATA / "long.csv"), "--as", "tso-03", "--database-url", db)
    assert code == 0 and "0 days inserted, 4 unchanged" in out


def test_a_conflicting_file_is_refused_unless_replace_is_asked(db: str, tmp_path: Path) -> None:
    code, _, err = _run("import", str(DATA / "long.csv"), "--as", "tso-03", "--database-url", db)
    assert code == 0, err
    changed = tmp_path / "corrected.csv"
    original = (DATA / "long.csv").read_text(encoding="utf-8")
    first_day = f"{P1},2024-07-01,1,0.210,0.000"
    assert first_day in original
    changed.write_text(original.replace(first_day, f"{P1},2024-07-01,1,0.999,0.000"))
    code, _, err = _run("import", str(changed), "--as", "tso-03", "--database-url", db)
    assert code == 2 and "the values differ from the stored ones" in err
    assert "nothing of the file was written" in err
    code, out, err = _run(
        "import", str(changed), "--as", "tso-03", "--replace", "--database-url", db
    )
    assert code == 0, err
    assert "1 replaced" in out and "3 unchanged" in out
    code, out, _ = _run("import", str(changed), "--as", "tso-03", "--database-url", db)
    assert code == 0 and "0 days inserted, 4 unchanged" in out


def test_refusals_exit_2_for_input_and_3_for_policy(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("supply_point_id,date,slot,consumption_kwh\n" + f"{P1},2024-07-01,99,1\n")
    code, _, err = _run("import", str(bad), "--as", "tso-03", "--database-url", db)
    assert code == 2 and "bad.csv:2" in err and "slot '99'" in err
    code, _, err = _run("import", str(DATA / "long.csv"), "--as", "tso-06", "--database-url", db)
    assert code == 3 and "refused by the policy" in err
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(
        "supply_point_id,date,slot,consumption_kwh\n" + "0311111111111111111111,2024-07-01,1,1\n"
    )
    code, _, err = _run("import", str(unknown), "--as", "tso-03", "--database-url", db)
    assert (
        code == 2 and "unknown.csv:2" in err and "0311111111111111111111 is not registered" in err
    )
    code, _, err = _run("import", str(DATA / "long.csv"), "--as", "nobody", "--database-url", db)
    assert code == 2 and "nobody" in err
    code, _, err = _run(
        "settle", "--event", "x", "--as", "dr-one", "--engine", "spark", "--database-url", db
    )
    assert code == 2 and "unknown engine" in err


def _seed_event(engine: Engine) -> str:
    rng = np.random.default_rng(3)
    first = dt.date(2024, 6, 4)
    rows = [
        MeterDay(
            SupplyPointId(P1), first + dt.timedelta(days=d), np.round(rng.gamma(2.0, 0.4, 48), 3)
        )
        for d in range(31)
    ]
    at = dt.datetime.now(dt.UTC)
    dr = Party("dr-one", "dr_contractor")
    with UnitOfWork(engine) as u:
        service.import_meter_days(
            u, rows, actor=Party("tso-03", "tso"), file="g", request_id="g", at=at
        )
    agreement = propose_and_confirm(
        lambda: UnitOfWork(engine),
        contractor=dr,
        customer_id="c-1",
        supply_point_id=P1,
        contract_number="K-1",
        postal_code="150-0001",
        agreed_on=dt.date(2024, 5, 1),
        email="c-1@customer.example",
        request_id="a",
        at=at,
    )
    with UnitOfWork(engine) as u:
        service.register_group(u, actor=dr, code="BG-A", name="A")
        service.register_resource(
            u,
            actor=dr,
            agreement_id=agreement.agreement_id,
            group_code="BG-A",
            request_id="r",
            at=at,
        )
        event = service.create_event(
            u,
            actor=dr,
            day=dt.date(2024, 7, 4),
            first_slot=27,
            last_slot=34,
            resources=[P1],
            at=at,
            event_id="ev-1",
        )
    return event.event_id


def test_settle_writes_results_and_plan(db: str, engine: Engine, tmp_path: Path) -> None:
    event_id = _seed_event(engine)
    out_csv, plan_csv, slots_csv = (tmp_path / n for n in ("results.csv", "plan.csv", "s.csv"))
    code, out, err = _run(
        "settle",
        "--event",
        event_id,
        "--as",
        "dr-one",
        "--output",
        str(out_csv),
        "--plan",
        str(plan_csv),
        "--slots",
        str(slots_csv),
        "--database-url",
        db,
    )
    assert code == 0, err
    assert "of event ev-1: 1 resources, 0 failed resource-days, 0 denied" in out
    rows_out = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert [(r["level"], r["supply_point_id"]) for r in rows_out] == [
        ("day", P1),
        ("event", P1),
        ("balancing_group", "*"),
        ("contractor", "*"),
    ]
    assert rows_out[0]["status"] == "ok" and rows_out[0]["days_kept"] == "4"
    assert len(plan_csv.read_text().splitlines()) == 1 + 2 * 8
    assert len(slots_csv.read_text().splitlines()) == 1 + 48
    found = re.search(r"^run (\w+) of event", out, re.M)
    assert found is not None, out
    run_id = found.group(1)
    code, again, err = _run("results", "--run", run_id, "--as", "dr-one", "--database-url", db)
    assert code == 0, err
    assert again == out_csv.read_text(), (out, run_id)
    code, _, err = _run("settle", "--event", "ev-1", "--as", "r-one", "--database-url", db)
    assert code == 2 and "no DR event" in err
    code, _, err = _run(
        "settle", "--event", "ev-1", "--as", "dr-one", "--option", "nope=1", "--database-url", db
    )
    assert code == 2 and "unknown settlement option" in err


def test_operable_without_python_from_group_to_results(
    db: str, engine: Engine, tmp_path: Path
) -> None:
    """Everything a contractor does, as commands: group, agreement, resource, event (create,
    amend, cancel), import, settle with options, results as the retailer."""
    rng = np.random.default_rng(5)
    lines = ["supply_point_id,date,slot,consumption_kwh"]
    for d in range(31):
        day = dt.date(2024, 6, 4) + dt.timedelta(days=d)
        for slot in range(1, 49):
            lines.append(f"{P1},{day},{slot},{rng.integers(100, 900) / 1000:.3f}")
    data = tmp_path / "usage.csv"
    data.write_text("\n".join(lines) + "\n")

    def ok(*args: str) -> str:
        code, out, err = _run(*args, "--database-url", db)
        assert code == 0, err
        return out

    ok("import", str(data), "--as", "tso-03")
    ok("group", "add", "BG-1", "Group one", "--as", "dr-one")
    out = ok(
        "agreement", "add", "--customer", "c-1", "--point", P1, "--agreed-on", "2024-05-01",
        "--as", "dr-one", "--id", "agr-1",
    )  # fmt: skip
    assert "agreement agr-1" in out
    code, _, err = _run(
        "resource", "add", "--agreement", "agr-1", "--group", "BG-1", "--as", "dr-one",
        "--database-url", db,
    )  # fmt: skip
    assert code == 3, "a proposal the customer has not confirmed opens nothing"
    confirm_as_customer(
        lambda: UnitOfWork(engine),
        agreement_id="agr-1",
        supply_point_id=P1,
        contract_number="K-1",
        postal_code="150-0001",
        email="c-1@customer.example",
        at=dt.datetime.now(dt.UTC),
    )
    ok("resource", "add", "--agreement", "agr-1", "--group", "BG-1", "--as", "dr-one")
    ok(
        "event", "create", "--day", "2024-07-04", "--first-slot", "27", "--last-slot", "34",
        "--resource", P1, "--id", "ev-x", "--as", "dr-one",
    )  # fmt: skip
    ok(
        "event", "create", "--day", "2024-07-03", "--first-slot", "2", "--last-slot", "4",
        "--resource", P1, "--id", "ev-cancel", "--as", "dr-one",
    )  # fmt: skip
    assert "cancelled" in ok("event", "cancel", "ev-cancel", "--as", "dr-one")
    assert "slots 29-34" in ok("event", "amend", "ev-x", "--first-slot", "29", "--as", "dr-one")
    out = ok(
        "settle", "--event", "ev-x", "--as", "dr-one",
        "--option", "adjustment=multiplicative", "--option", "adjustment_clamp=[0.8, 1.2]",
        "--output", str(tmp_path / "r.csv"),
    )  # fmt: skip
    assert "0 failed resource-days" in out
    code, _, err = _run(
        "event", "amend", "ev-x", "--last-slot", "40", "--as", "dr-one", "--database-url", db
    )
    assert code == 2 and "settled" in err
    shown = ok("event", "show", "ev-x", "--as", "dr-one")
    assert "slots 29-34" in shown and "  run " in shown and "multiplicative" in shown
    listed = ok("event", "list", "--as", "dr-one")
    assert "ev-x" in listed and "ev-cancel" in listed and "cancelled" in listed
    rows = json.loads(ok("point-results", P1, "--as", "r-one"))
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["settled_kwh"]


def test_settle_on_a_dask_cluster_gives_the_local_results(
    db: str, engine: Engine, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("one Dask run is enough: the engine does not depend on the database")
    event_id = _seed_event(engine)
    code, local, err = _run("settle", "--event", event_id, "--as", "dr-one", "--database-url", db)
    assert code == 0, err
    code, dask, err = _run(
        "settle", "--event", event_id, "--as", "dr-one", "--engine", "dask", "--database-url", db
    )
    assert code == 0, err

    def runless(text: str) -> str:  # each settlement is a run of its own
        return re.sub(r"\b[0-9a-f]{32}\b", "RUN", text)

    assert runless(dask) == runless(local) and "ev-1" in local

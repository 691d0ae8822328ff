"""``jointuse contracts import`` and ``jointuse tick`` on a real database (both backends)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from flows_world import GATE, R_NEW, R_OLD, UowFactory, build, jst, switch_filing
from jointuse.cli import app
from jointuse.customers.tables import retail_contract
from jointuse.flows import filing
from jointuse.flows.service import read_flow, set_auto_judge
from jointuse.flows.steps import fix_date
from jointuse.ledger.service import find_entries

HEADER = (
    "customer_id,name,name_kana,postal_code,prefecture,address,phone,membership,retailer,"
    "contract_number,contract_kind,supply_point_id,valid_from\n"
)
B = "03" + "2" * 20
K = "06" + "3" * 20


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_contracts_import_all_or_nothing_by_the_area_tso(
    engine: Engine, uow: UowFactory, database_url: str, tmp_path: Path
) -> None:
    build(engine, uow)
    person = "100-0001,東京都,千代田区1-1,0311112222,,r-old"
    good = f"c-b,鈴木 一郎,スズキ イチロウ,{person},B-1,,{B},2024-02-01\n"
    bad = f"c-k,鈴木 二郎,スズキ ジロウ,{person},K-1,,{K},2024/02/01\n"
    file = tmp_path / "contracts.csv"
    file.write_bytes((HEADER + good + bad).encode("cp932"))
    code, out = _run(
        "contracts", "import", str(file), "--as", "tso-03", "--database-url", database_url
    )
    assert code == 2, out
    assert "line 3" in out and "not in tso-03's area" in out
    with engine.connect() as conn:
        numbers = set(conn.execute(select(retail_contract.c.contract_number)).scalars())
    assert numbers == {"OLD-1"}  # nothing imported: the good row neither
    file.write_bytes((HEADER + good).encode("utf-8"))
    code, out = _run(
        "contracts", "import", str(file), "--as", "tso-03", "--database-url", database_url
    )
    assert code == 0, out
    with uow() as u:
        (entry,) = [
            r.entry
            for r in find_entries(u.session, supply_point_id=B)
            if r.entry.purpose == "admin:contract_import"
        ]
    assert (entry.party, entry.customer_id) == ("tso-03", "c-b")
    code, out = _run("contracts", "import", str(file), "--database-url", database_url)
    assert code == 2  # neither --as nor --operator


def test_tick_runs_automatic_judgements_and_completes_on_the_date(
    engine: Engine, uow: UowFactory, database_url: str
) -> None:
    build(engine, uow)
    with uow() as u:
        set_auto_judge(u, actor=R_OLD, auto=True, at=jst(2024, 2, 1))
    with uow() as u:
        filed = filing.file_switch(
            u,
            gate=GATE,
            actor=R_NEW,
            filing=switch_filing(),
            request_id="f",
            at=jst(2024, 3, 1),
        )
    code, out = _run("tick", "--at", "2024-03-01T13:00:00+09:00", "--database-url", database_url)
    assert code == 0 and "judged 1" in out, out
    with uow() as u:
        view = read_flow(u.connection, actor=R_NEW, flow_id=filed.flow.id)
    assert view["state"] == "matched" and view["forwarding"]["mode"] == "auto"
    from flows_world import TSO03

    with uow() as u:
        fix_date(
            u,
            gate=GATE,
            actor=TSO03,
            flow_id=filed.flow.id,
            day=None,
            request_id="d",
            at=jst(2024, 3, 1, 14),
        )
    code, out = _run("tick", "--at", "2024-03-12T00:10:00+09:00", "--database-url", database_url)
    assert code == 0 and "completed 1" in out, out
    with engine.connect() as conn:
        ends = conn.execute(
            select(retail_contract.c.valid_to).where(retail_contract.c.contract_number == "OLD-1")
        ).scalar()
    assert ends == date(2024, 3, 12)
    code, out = _run("tick", "--at", "yesterday", "--database-url", database_url)
    assert code == 2

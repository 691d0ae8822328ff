"""``jointuse ledger show|export`` for auditors, on SQLite and PostgreSQL: every filter (customer,
point, party, acting user, purpose, period, decision), keyset pages, streamed JSON Lines and CSV
exports, bad input refused naming the option, and each reading recorded on the ledger."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from jointuse.audit import ledger_search as search
from jointuse.cli import app
from jointuse.core.db import UnitOfWork
from jointuse.ledger.chain import LedgerEntry, RefusedItem
from jointuse.ledger.service import append, find_entries, seal_all

POINT_A = "0311112222333344445555"
POINT_B = "0611112222333344445555"
START = datetime(2026, 11, 1, tzinfo=UTC)


def _seed(engine: Engine, uow: Callable[..., UnitOfWork]) -> None:
    """40 entries: customer c-<n % 4>, hour n after START, party r-one (even n) or tso-03
    (odd), user alice (n % 5 == 0), purpose P1 (n < 20) or P4, denied every 7th; point A for
    even n, B for odd."""
    with uow() as u:
        for n in range(40):
            denied = n % 7 == 0
            append(
                u.connection,
                LedgerEntry(
                    party="r-one" if n % 2 == 0 else "tso-03",
                    purpose="P1_wheeling" if n < 20 else "P4_tso_operations",
                    action="read",
                    decision="denied" if denied else "allowed",
                    customer_id=f"c-{n % 4}",
                    supply_point_id=POINT_A if n % 2 == 0 else POINT_B,
                    items_granted=() if denied else ("name", "address"),
                    items_refused=(RefusedItem("name", "relation_missing"),) if denied else (),
                    acting_user="alice" if n % 5 == 0 else None,
                    request_id=f"req-{n}",
                ),
                now=START + timedelta(hours=n),
            )
    seal_all(engine)


def _ids(records: list[search.LedgerRecord]) -> list[str]:
    return [r.entry.request_id or "" for r in records]


def _expected(pred: Callable[[int], bool]) -> list[str]:
    return [f"req-{n}" for n in range(40) if pred(n)]


def test_every_filter_of_find_entries(engine: Engine, uow: Callable[..., UnitOfWork]) -> None:
    _seed(engine, uow)
    with engine.connect() as conn:

        def found(**kw: object) -> list[str]:
            return sorted(
                _ids(find_entries(conn, oldest_first=True, **kw)), key=lambda r: int(r[4:])
            )  # type: ignore[arg-type]

        assert found(customer_id="c-1") == _expected(lambda n: n % 4 == 1)
        assert found(supply_point_id=POINT_B) == _expected(lambda n: n % 2 == 1)
        assert found(party="r-one") == _expected(lambda n: n % 2 == 0)
        assert found(acting_user="alice") == _expected(lambda n: n % 5 == 0)
        assert found(purpose="P4_tso_operations") == _expected(lambda n: n >= 20)
        assert found(decision="denied") == _expected(lambda n: n % 7 == 0)
        assert found(
            since=START + timedelta(hours=10), until=START + timedelta(hours=15)
        ) == _expected(lambda n: 10 <= n < 15)
        assert found(party="tso-03", acting_user="alice", decision="allowed") == _expected(
            lambda n: n % 2 == 1 and n % 5 == 0 and n % 7 != 0
        )
        # keyset paging, both directions
        newest = find_entries(conn, limit=3)
        assert _ids(newest) == ["req-39", "req-38", "req-37"]
        nxt = find_entries(conn, limit=3, before_seq=newest[-1].seq)
        assert _ids(nxt) == ["req-36", "req-35", "req-34"]
        first = find_entries(conn, limit=2, oldest_first=True)
        assert _ids(find_entries(conn, limit=2, oldest_first=True, after_seq=first[-1].seq)) == [
            "req-2",
            "req-3",
        ]


def _run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


def _audit_entries(engine: Engine) -> list[LedgerEntry]:
    with engine.connect() as conn:
        return [r.entry for r in find_entries(conn, party=search.OPERATOR, oldest_first=True)]


def test_show_pages_and_is_recorded(
    engine: Engine, database_url: str, uow: Callable[..., UnitOfWork]
) -> None:
    _seed(engine, uow)
    code, out, _ = _run(
        [
            "ledger",
            "show",
            "--auditor",
            "監査 太郎",
            "--customer",
            "c-2",
            "--limit",
            "4",
            "--database-url",
            database_url,
        ]
    )
    assert code == 0, out
    lines = [ln for ln in out.splitlines() if "customer=" in ln]
    assert len(lines) == 4 and all("customer=c-2" in ln for ln in lines)
    # the newest entry about c-2 is this reading itself
    assert "operator/監査 太郎" in lines[0] and "audit:ledger_show" in lines[0]
    assert "more: add --before" in out
    before = out.split("--before ")[1].split()[0]
    code, out2, _ = _run(
        [
            "ledger",
            "show",
            "--auditor",
            "監査 太郎",
            "--customer",
            "c-2",
            "--json",
            "--before",
            before,
            "--database-url",
            database_url,
        ]
    )
    rows = [json.loads(line) for line in out2.splitlines()]
    # the reading and 10 entries of c-2 (n = 2, 6, …, 38): 38, 34, 30 shown, then the rest
    assert [r["request_id"] for r in rows] == [f"req-{n}" for n in (26, 22, 18, 14, 10, 6, 2)]
    audits = _audit_entries(engine)
    assert [a.purpose for a in audits] == ["audit:ledger_show", "audit:ledger_show"]
    assert audits[0].acting_user == "監査 太郎" and audits[0].customer_id == "c-2"
    assert audits[0].rule_id == 'audit {"customer_id": "(this entry\'s)"}'


def test_export_jsonl_and_csv_stream_every_page(
    engine: Engine, database_url: str, uow: Callable[..., UnitOfWork], tmp_path: object
) -> None:
    _seed(engine, uow)
    code, out, err = _run(
        [
            "ledger",
            "export",
            "--auditor",
            "a-1",
            "--format",
            "jsonl",
            "--page-size",
            "3",
            "--purpose",
            "P1_wheeling",
            "--decision",
            "allowed",
            "--database-url",
            database_url,
        ]
    )
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["request_id"] for r in rows] == _expected(lambda n: n < 20 and n % 7 != 0)
    assert rows[0]["items_granted"] == ["address", "name"] and rows[0]["chain_pos"] == 2
    # CSV to a file, a JST day as the period, the point typed as printed with full-width digits
    target = tmp_path / "out.csv"  # type: ignore[operator]
    code, _, err = _run(
        [
            "ledger",
            "export",
            "--auditor",
            "a-1",
            "--format",
            "csv",
            "-o",
            str(target),
            "--point",
            "０３-1111-2222-3333-4444-5555",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-01",
            "--page-size",
            "2",
            "--database-url",
            database_url,
        ]
    )
    assert code == 0, err
    assert "exported" in err
    table = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert tuple(table[0]) == search.CSV_COLUMNS
    # 2026-11-01 JST is 2026-10-31T15:00Z – 2026-11-01T15:00Z: hours 0–14, even ones at point A
    assert [r[search.CSV_COLUMNS.index("request_id")] for r in table[1:]] == _expected(
        lambda n: n % 2 == 0 and n < 15
    )
    denied = next(r for r in table[1:] if r[search.CSV_COLUMNS.index("decision")] == "denied")
    assert denied[search.CSV_COLUMNS.index("items_refused")] == "name:relation_missing"
    audits = _audit_entries(engine)
    assert [a.purpose for a in audits] == ["audit:ledger_export"] * 2
    assert audits[1].supply_point_id == POINT_A


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--point", "0399"], "supply point ID has 4 digits"),
        (["--decision", "maybe"], "allowed, denied"),
        (["--from", "yesterday"], "from 'yesterday' is not a date"),
        (["--from", "2026-11-02", "--to", "2026-11-01"], "the period is empty"),
        (["--user", "  "], "user is empty"),
        (["--page-size", "0"], "page size 0 is out of range"),
        (["--format", "xml"], "unknown format 'xml'"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_recorded(
    engine: Engine, database_url: str, args: list[str], named: str
) -> None:
    code, _, err = _run(
        ["ledger", "export", "--auditor", "a", *args, "--database-url", database_url]
    )
    assert code == 2 and named in err, err
    if "--page-size" not in args:
        assert _audit_entries(engine) == []

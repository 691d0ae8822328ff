"""``jointuse incident scope`` on a seeded incident whose answers are known, on SQLite and
PostgreSQL: the people and items a credential reached (allowed entries only), the 1,000 / 1,001
threshold, financial harm, the improper-purpose flag and its 60-day final report, a token's
reach cut to its validity, point-only entries, and the reading on the ledger."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from jointuse.audit import incident as incidents
from jointuse.cli import app
from jointuse.core.db import UnitOfWork
from jointuse.ledger.chain import LedgerEntry, RefusedItem
from jointuse.ledger.service import append, find_entries
from jointuse.parties import service as parties

START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # 09:00 JST
POINT_ONLY = "0311112222333344445555"


def _seed(engine: Engine, uow: Callable[..., UnitOfWork]) -> None:
    """tso-03 (the leaking credential, user mallory) reads customer k-0000 … k-1000 (1,001
    people), one a minute from START: names and addresses, and for k-0007 also the contract
    number and supply point ID; then one point-only read; 5 refused reads; r-one, an innocent
    party, reads k-5000."""
    with uow() as u:
        for n in range(1001):
            items = ("address", "name")
            if n == 7:
                items = ("address", "contract_number", "name", "supply_point_id")
            append(
                u.connection,
                LedgerEntry(
                    party="tso-03",
                    purpose="P4_tso_operations",
                    action="read",
                    decision="allowed",
                    customer_id=f"k-{n:04d}",
                    items_granted=items,
                    acting_user="mallory",
                ),
                now=START + timedelta(minutes=n),
            )
        append(
            u.connection,
            LedgerEntry(
                party="tso-03",
                purpose="P3_supply_point_confirmation",
                action="read",
                decision="allowed",
                supply_point_id=POINT_ONLY,
                items_granted=("meter_info",),
                acting_user="mallory",
            ),
            now=START + timedelta(minutes=1001),
        )
        for n in range(5):
            append(
                u.connection,
                LedgerEntry(
                    party="tso-03",
                    purpose="P4_tso_operations",
                    action="read",
                    decision="denied",
                    customer_id=f"k-9{n:03d}",
                    items_refused=(RefusedItem("phone", "relation_missing"),),
                    acting_user="mallory",
                ),
                now=START + timedelta(minutes=1002 + n),
            )
        append(
            u.connection,
            LedgerEntry(
                party="r-one",
                purpose="P1_wheeling",
                action="read",
                decision="allowed",
                customer_id="k-5000",
                items_granted=("name",),
            ),
            now=START + timedelta(minutes=10),
        )


def _question(**kw: object) -> incidents.ScopeQuestion:
    args: dict[str, object] = {"party": None, "user": None, "token": None}
    args.update(kw)
    args.setdefault("since", "2026-11-02T09:00+09:00")
    args.setdefault("discovered", "2026-11-10T12:00+09:00")
    return incidents.ScopeQuestion.parse(**args)  # type: ignore[arg-type]


def test_1001_people_is_reportable_1000_is_not(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    _seed(engine, uow)
    # k-0000 … k-1000 read at minutes 0 … 1000; the window's end is exclusive.
    everyone = incidents.scope(
        engine, _question(party="tso-03", until=(START + timedelta(minutes=1001)).isoformat()),
        auditor="auditor-1",
    )  # fmt: skip
    assert everyone.people_count == 1001
    assert everyone.thresholds["more_than_1000_people"]["met"] is True
    assert everyone.reportable
    assert everyone.deadlines == {
        "preliminary_from": "2026-11-13",
        "preliminary_by": "2026-11-15",
        "final_by": "2026-12-10",
        "final_days": "30",
    }
    # one minute less: k-1000 falls out; k-0007's contract number is still in (financial harm)
    thousand = incidents.scope(
        engine, _question(party="tso-03", until=(START + timedelta(minutes=1000)).isoformat()),
        auditor="auditor-1",
    )  # fmt: skip
    assert thousand.people_count == 1000
    assert thousand.thresholds["more_than_1000_people"]["met"] is False
    assert thousand.thresholds["financial_harm"] == {
        "met": True,
        "test": thousand.thresholds["financial_harm"]["test"],
        "people": 1,
    }
    assert thousand.reportable
    # without k-0007 (from minute 8 on): 992 people, no threshold met
    quiet = incidents.scope(
        engine,
        _question(
            party="tso-03",
            since=(START + timedelta(minutes=8)).isoformat(),
            until=(START + timedelta(minutes=1000)).isoformat(),
        ),
        auditor="auditor-1",
    )
    assert quiet.people_count == 992
    assert not quiet.reportable and quiet.deadlines == {}
    assert quiet.items == {"address": 992, "name": 992}


def test_improper_purpose_by_user_whole_day(engine: Engine, uow: Callable[..., UnitOfWork]) -> None:
    _seed(engine, uow)
    report = incidents.scope(
        engine,
        _question(user="mallory", since="2026-11-02", until="2026-11-03", improper_purpose=True),
        auditor="auditor-1",
    )
    # 1,001 customers and the occupant of the point-only read; refused reads disclose nothing
    assert report.people_count == 1002
    assert report.entries_allowed == 1002 and report.entries_denied == 5
    assert report.thresholds["improper_purpose"]["met"] is True
    assert report.deadlines["final_by"] == "2027-01-09" and report.deadlines["final_days"] == "60"
    occupant = next(p for p in report.people if p["customer_id"] is None)
    assert occupant["supply_points"] == [POINT_ONLY] and occupant["items"] == ["meter_info"]
    assert "k-5000" not in {p["customer_id"] for p in report.people}
    assert any("5 refused requests" in n for n in report.notes)


def test_a_token_reaches_its_party_while_valid_only(
    engine: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    parties.seed_reference_parties(engine, datetime(2026, 1, 1, tzinfo=UTC))
    _seed(engine, uow)
    token = parties.issue_token(engine, "tso-03", at=START + timedelta(minutes=100))
    parties.revoke_token(engine, token.token_id, at=START + timedelta(minutes=200))
    other = parties.issue_token(engine, "tso-03", at=START)
    report = incidents.scope(
        engine,
        _question(token=token.secret, since="2026-11-01", until="2026-11-03"),
        auditor="auditor-1",
    )
    assert report.people_count == 100  # minutes 100 … 199
    assert report.credential["token"] == token.token_id
    assert any(other.token_id in n for n in report.notes)
    with pytest.raises(Exception, match="no token"):
        incidents.scope(
            engine,
            _question(token="0123456789abcdef", until="2026-11-03"),
            auditor="auditor-1",
        )


def test_cli_json_and_the_reading_on_the_ledger(
    engine: Engine, database_url: str, uow: Callable[..., UnitOfWork]
) -> None:
    _seed(engine, uow)
    result = CliRunner().invoke(
        app,
        [
            "incident",
            "scope",
            "--auditor",
            "auditor-1",
            "--party",
            "r-one",
            "--from",
            "2026-11-02",
            "--to",
            "2026-11-02",
            "--json",
            "--discovered",
            "2026-11-03",
            "--database-url",
            database_url,
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["people_count"] == 1 and report["reportable"] is False
    assert report["notify"][0]["customer_id"] == "k-5000"
    text = CliRunner().invoke(
        app,
        [
            "incident",
            "scope",
            "--auditor",
            "auditor-1",
            "--user",
            "mallory",
            "--from",
            "2026-11-02",
            "--to",
            "2026-11-03",
            "--database-url",
            database_url,
        ],
    )
    assert text.exit_code == 0, text.output
    assert "people reached (本人の数): 1,002" in text.stdout
    assert "[MET] more_than_1000_people" in text.stdout
    assert "REPORTABLE" in text.stdout and "k-0999" in text.stdout
    with engine.connect() as conn:
        readings = find_entries(conn, purpose="audit:incident_scope", oldest_first=True)
    assert [r.entry.acting_user for r in readings] == ["auditor-1", "auditor-1"]
    assert readings[0].entry.rule_id is not None and '"party": "r-one"' in readings[0].entry.rule_id
    bad = CliRunner().invoke(
        app,
        [
            "incident",
            "scope",
            "--auditor",
            "a",
            "--party",
            "x",
            "--user",
            "y",
            "--from",
            "2026-11-02",
            "--to",
            "2026-11-02",
            "--database-url",
            database_url,
        ],
    )
    assert bad.exit_code == 2 and "exactly one credential" in bad.stderr

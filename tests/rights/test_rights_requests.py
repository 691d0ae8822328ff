"""The customer's rights as tracked requests (APPI Arts. 33–35) over HTTP with real SMTP to a
local sink, on SQLite and PostgreSQL: disclosure (JSON, CSV, PDF; refusal on an Art. 33(2)
ground), correction at the controller (accepted through the gate, or refused with reasons),
stop-use propagated to every holder — each with its deadline — and the tenure boundary between
two successive occupants of one point."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from jointuse.app import create_app
from jointuse.assembly import default_gate
from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.core.mail import MailSink, SmtpMailer, mail_sink
from jointuse.core.settings import load_settings
from jointuse.customers import service as customers
from jointuse.customers.model import ContractKind, Customer, RetailContract, SupplyPoint
from jointuse.customers.tables import customer, supply_point
from jointuse.ledger.chain import LedgerEntry
from jointuse.ledger.service import append, find_entries
from jointuse.negawatt.tables import dr_agreement
from jointuse.parties import service as parties
from jointuse.policy.engine import Party
from jointuse.rights import requests_service as service
from seeding import seed_contract

POINT = "0311112222333344445555"


def _customer(cid: str, name: str, postal: str) -> Customer:
    return Customer.create(
        customer_id=cid,
        name=name,
        name_kana="テスト",
        postal_code=postal,
        prefecture="東京都",
        address_rest="千代田区千代田1-1",
        phone="03-1234-5678",
        membership="non_member",
    )


Site = tuple[TestClient, MailSink, SmtpMailer, Engine, dict[str, str]]


@pytest.fixture
def site(engine: Engine) -> Iterator[Site]:
    """POINT: c-old supplied by r-old from 2020 to 2023, then c-new by r-new since 2023; the
    TSO read the point's customer in 2021 (c-old's time) and 2024 (c-new's)."""
    parties.seed_reference_parties(engine, datetime(2019, 1, 1, tzinfo=UTC))
    for code, meti in (("r-old", "A0101"), ("r-new", "A0102")):
        parties.add_party(
            engine,
            code=code,
            kind="retailer",
            name_ja=f"{code}電力",
            name_en=f"{code} Power",
            meti_registration=meti,
            at=datetime(2019, 1, 1, tzinfo=UTC),
        )
    point = SupplyPoint(
        supply_point_id=SupplyPointId(POINT),
        supply_area="03",
        service_menu="lv_metered_lighting_b",
        supply_method="single_phase_3_wire",
        capacity_determination_method="ampere_breaker",
        contract_state="active",
        current_limit=30,
    )
    with UnitOfWork(engine) as u:
        customers.save_supply_point(
            u,
            gate=default_gate(),
            actor=Party("tso-03", "tso"),
            point=point,
            request_id="sp",
            at=datetime(2019, 6, 1, tzinfo=UTC),
        )
    for cid, name, number, retailer, start, end in (
        ("c-old", "旧太郎", "OLD-1", "r-old", date(2020, 1, 1), date(2023, 1, 1)),
        ("c-new", "新花子", "NEW-1", "r-new", date(2023, 1, 1), None),
    ):
        with UnitOfWork(engine) as u:
            seed_contract(
                u,
                _customer(cid, name, "100-0001"),
                RetailContract(
                    number,
                    ContractKind.STANDARD,
                    retailer,
                    cid,
                    SupplyPointId(POINT),
                    start,
                    end,
                ),
                at=datetime(start.year, 1, 1, tzinfo=UTC),
            )
    with UnitOfWork(engine) as u:
        for year, rid in ((2021, "read-2021"), (2024, "read-2024")):
            append(
                u.connection,
                LedgerEntry(
                    party="tso-03",
                    purpose="P4_tso_operations",
                    action="read",
                    decision="allowed",
                    supply_point_id=POINT,
                    items_granted=("name", "phone"),
                    rule_id="P4-tso-field-work",
                    request_id=rid,
                    recorded_at=datetime(year, 6, 1, tzinfo=UTC),
                ),
            )
    tokens = {
        code: parties.issue_token(engine, code).secret for code in ("r-old", "r-new", "tso-03")
    }
    with mail_sink() as (sink, mailer):
        app = create_app(engine=engine, run_sealer=False, environ={}, mailer=mailer)
        with TestClient(app) as client:
            yield client, sink, mailer, engine, tokens


def _code(sink: MailSink, email: str) -> str:
    found = re.search(r"(\d{6})", sink.to(email)[-1].body)
    assert found is not None
    return found.group(1)


def _enrol(client: TestClient, sink: MailSink, email: str, number: str) -> dict[str, str]:
    r = client.post(
        "/v1/me/enrolment",
        json={
            "contract_number": number,
            "supply_point_id": "03-1111-2222-3333-4444-5555",
            "postal_code": "１００-０００１",
            "email": email,
        },
    )
    assert r.status_code == 202, r.text
    r = client.post("/v1/me/enrolment/confirm", json={"email": email, "code": _code(sink, email)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['session']}"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _disclose(site: Site, me: dict[str, str], fmt: str) -> tuple[dict[str, Any], bytes]:
    client, _sink, mailer, engine, _tokens = site
    r = client.post("/v1/me/requests/disclosure", json={"format": fmt}, headers=me)
    assert r.status_code == 201, r.text
    req = r.json()
    assert req["state"] == "received" and req["download"] is None
    early = client.get(f"/v1/me/requests/{req['id']}/download", headers=me)
    assert early.status_code == 409 and early.json()["code"] == "disclosure_not_ready"
    done = service.process_disclosures(
        engine, default_gate(), mailer, at=datetime.now(UTC), only=req["id"]
    )
    assert done == [req["id"]]
    got = client.get(f"/v1/me/requests/{req['id']}/download", headers=me)
    assert got.status_code == 200, got.text
    return req, got.content


def test_disclosure_within_each_occupants_tenure(site: Site) -> None:
    client, sink, _mailer, engine, _tokens = site
    old = _enrol(client, sink, "old@example.jp", "OLD-1")
    new = _enrol(client, sink, "new@example.jp", "NEW-1")
    docs = {}
    for who, me in (("old", old), ("new", new)):
        req, body = _disclose(site, me, "json")
        received = datetime.fromisoformat(req["received_at"])
        assert datetime.fromisoformat(req["due_at"]) - received == timedelta(days=14)
        docs[who] = json.loads(body)
        shown = client.get(f"/v1/me/requests/{req['id']}", headers=me).json()
        assert shown["state"] == "ready" and [s["step"] for s in shown["steps"]] == [
            "receive",
            "prepare",
        ]
        assert "ready" in sink.to(f"{who}@example.jp")[-1].body
    for who, mine, theirs, retailer in (
        ("old", "旧太郎", "新花子", "r-old"),
        ("new", "新花子", "旧太郎", "r-new"),
    ):
        doc = docs[who]
        text = json.dumps(doc, ensure_ascii=False)
        assert mine in text and theirs not in text, json.dumps(doc["records"], ensure_ascii=False)[
            :1500
        ]
        [record] = doc["records"]
        basic = record["categories"]["basic"]
        assert [c["code"] for c in basic["controllers"]] == [retailer]
        values = {i["item"]: i["value"] for i in basic["items"]}
        assert values["name"]["kanji"] == mine
        assert values["contract_number"] == ("OLD-1" if who == "old" else "NEW-1")
        point = record["categories"]["supply_point"]
        assert [c["code"] for c in point["controllers"]] == ["tso-03"]
        assert {i["item"]: i["value"] for i in point["items"]}["current_limit"] == 30
        assert record["categories"]["negawatt"]["held"] is False
        p4 = [
            e["at"][:4]
            for e in doc["access_record"].get("P4_tso_operations", [])
            if e["action"] == "read"
        ]
        assert p4 == (["2021"] if who == "old" else ["2024"])
    with engine.connect() as conn:
        reads = [
            r.entry
            for r in find_entries(conn, customer_id="c-old", limit=100)
            if r.entry.purpose == "subject:disclosure" and r.entry.action == "read"
        ]
    assert reads and all(e.party.startswith("customer:") for e in reads)
    with engine.connect() as conn:
        steps = sorted(
            r.entry.rule_id or ""
            for r in find_entries(conn, customer_id="c-old", limit=100)
            if r.entry.purpose == "subject:disclosure" and r.entry.action == "write"
        )
    assert steps == ["subject:disclosure:prepare", "subject:disclosure:receive"]


def test_disclosure_as_csv_and_pdf(site: Site) -> None:
    client, sink, *_ = site
    me = _enrol(client, sink, "new@example.jp", "NEW-1")
    _req, body = _disclose(site, me, "csv")
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig")
    assert "新花子" in text and "旧太郎" not in text and "管理責任者" in text
    _req, pdf = _disclose(site, me, "pdf")
    assert pdf.startswith(b"%PDF") and b"HeiseiKakuGo-W5" in pdf


def test_disclosure_refused_only_on_an_article_33_2_ground(site: Site) -> None:
    client, sink, mailer, engine, _tokens = site
    me = _enrol(client, sink, "new@example.jp", "NEW-1")
    req = client.post("/v1/me/requests/disclosure", json={"format": "json"}, headers=me).json()
    at = datetime.now(UTC)
    with pytest.raises(Exception) as bad:
        service.refuse_disclosure(engine, mailer, req["id"], ground="too_busy", note="", at=at)
    assert getattr(bad.value, "status", None) == 422
    done = service.refuse_disclosure(
        engine, mailer, req["id"], ground="art33_2_ii", note="調査中", at=at
    )
    assert done["state"] == "refused" and done["outcome"]["ground"] == "art33_2_ii"
    told = sink.to("new@example.jp")[-1]
    assert "第33条第2項第2号" in told.body and "Art. 33(2)(ii)" in told.body
    shown = client.get(f"/v1/me/requests/{req['id']}", headers=me).json()
    assert shown["outcome"]["ground_ja"].startswith("当該個人情報取扱事業者")
    assert client.get(f"/v1/me/requests/{req['id']}/download", headers=me).status_code == 409


def test_deadline_is_configurable_and_overdue_requests_are_listed(
    site: Site, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from jointuse.cli import app

    client, sink, _mailer, _engine, _tokens = site
    monkeypatch.setenv("JOINTUSE_RIGHTS_DEADLINE_DAYS", "3")
    me = _enrol(client, sink, "new@example.jp", "NEW-1")
    req = client.post("/v1/me/requests/disclosure", json={"format": "json"}, headers=me).json()
    received = datetime.fromisoformat(req["received_at"])
    assert datetime.fromisoformat(req["due_at"]) == received + timedelta(days=3)
    run = CliRunner()
    before = (received + timedelta(days=2)).isoformat()
    after = (received + timedelta(days=4)).isoformat()
    ok = run.invoke(
        app, ["requests", "list", "--overdue", "--at", before, "--database-url", database_url]
    )
    assert ok.exit_code == 0 and req["id"] not in ok.output
    late = run.invoke(
        app, ["requests", "list", "--overdue", "--at", after, "--database-url", database_url]
    )
    assert late.exit_code == 1 and req["id"] in late.output and "OVERDUE" in late.output
    monkeypatch.setenv("JOINTUSE_RIGHTS_DEADLINE_DAYS", "zero")
    r = client.post("/v1/me/requests/disclosure", json={"format": "json"}, headers=me)
    assert r.status_code == 422 and "JOINTUSE_RIGHTS_DEADLINE_DAYS" in r.text


def test_correction_routed_to_the_retailer_and_applied_through_the_gate(site: Site) -> None:
    client, sink, _mailer, engine, tokens = site
    me = _enrol(client, sink, "new@example.jp", "NEW-1")
    r = client.post(
        "/v1/me/requests/correction",
        json={
            "category": "basic",
            "item": "phone",
            "value": "０９０-１１１１-２２２２",
            "reason": "番号変更",
        },
        headers=me,
    )
    assert r.status_code == 201, r.text
    req = r.json()
    assert req["state"] == "routed" and [p["party"] for p in req["parties"]] == ["r-new"]
    inbox = client.get("/v1/inbox", headers=_bearer(tokens["r-new"])).json()["messages"]
    assert [
        m["subject_ref"]["rights_request_id"] for m in inbox if m["kind"] == "rights_correction"
    ] == [req["id"]]
    seen = client.get(f"/v1/rights-requests/{req['id']}", headers=_bearer(tokens["r-new"]))
    assert seen.status_code == 200 and seen.json()["detail"]["value"] == "09011112222"
    # Another retailer is not addressed: 404, on the ledger.
    other = client.post(
        f"/v1/rights-requests/{req['id']}/acceptance", headers=_bearer(tokens["r-old"])
    )
    assert other.status_code == 404
    with engine.connect() as conn:
        refused = [
            e.entry
            for e in find_entries(conn, party="r-old", limit=50)
            if e.entry.decision == "denied"
        ]
    assert any(e.purpose == "subject:request" for e in refused)
    ok = client.post(
        f"/v1/rights-requests/{req['id']}/acceptance", headers=_bearer(tokens["r-new"])
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["state"] == "accepted"
    with engine.connect() as conn:
        phone = conn.execute(select(customer.c.phone).where(customer.c.id == "c-new")).scalar()
        written = [
            e.entry
            for e in find_entries(conn, party="r-new", limit=50)
            if e.entry.action == "write" and e.entry.purpose == "P1_wheeling"
        ]
    assert phone == "09011112222"
    assert written and written[0].items_granted == ("phone",)
    assert "訂正しました" in sink.to("new@example.jp")[-1].subject
    again = client.post(
        f"/v1/rights-requests/{req['id']}/acceptance", headers=_bearer(tokens["r-new"])
    )
    assert again.status_code == 409 and again.json()["code"] == "rights_request_state"
    with engine.connect() as conn:
        refusals = [
            e.entry.items_refused[0].reason
            for e in find_entries(conn, party="r-new", limit=50)
            if e.entry.decision == "denied"
        ]
    assert refusals == ["rights_request_state"]


def test_correction_of_a_point_item_refused_by_the_tso_with_reasons(site: Site) -> None:
    client, sink, _mailer, engine, tokens = site
    me = _enrol(client, sink, "new@example.jp", "NEW-1")
    bad = client.post(
        "/v1/me/requests/correction",
        json={"category": "supply_point", "item": "meter_info", "value": "x"},
        headers=me,
    )
    assert bad.status_code == 422 and "current_limit" in bad.text
    req = client.post(
        "/v1/me/requests/correction",
        json={"category": "supply_point", "item": "current_limit", "value": 40},
        headers=me,
    ).json()
    assert [p["party"] for p in req["parties"]] == ["tso-03"]
    # The TSO, controller of the supply-point items, reads the request through the gate (P4).
    seen = client.get(f"/v1/rights-requests/{req['id']}", headers=_bearer(tokens["tso-03"]))
    assert seen.status_code == 200, seen.text
    with engine.connect() as conn:
        read = [
            (e.entry.decision, e.entry.rule_id, e.entry.items_granted)
            for e in find_entries(conn, party="tso-03", limit=50)
            if e.entry.action == "read"
            and e.entry.purpose == "P4_tso_operations"
            and e.entry.rule_id == "P4-tso"
        ]
    assert read == [("allowed", "P4-tso", ("current_limit",))]
    r = client.post(
        f"/v1/rights-requests/{req['id']}/refusal",
        json={"reasons": ["現地確認の結果、30Aで正しい"]},
        headers=_bearer(tokens["tso-03"]),
    )
    assert r.status_code == 200 and r.json()["state"] == "refused"
    told = sink.to("new@example.jp")[-1]
    assert "現地確認の結果" in told.body and "tso-03" in told.body
    with engine.connect() as conn:
        limit = conn.execute(
            select(supply_point.c.current_limit).where(supply_point.c.id == POINT)
        ).scalar()
    assert limit == 30


def test_stop_use_propagated_to_every_holder_completes_when_all_confirm(site: Site) -> None:
    client, sink, _mailer, engine, tokens = site
    me = _enrol(client, sink, "new@example.jp", "NEW-1")
    bad = client.post("/v1/me/requests/stop-use", json={"ground": "dislike"}, headers=me)
    assert bad.status_code == 422 and "art35_5_no_longer_needed" in bad.text
    req = client.post(
        "/v1/me/requests/stop-use",
        json={"ground": "art35_5_no_longer_needed", "action": "erasure"},
        headers=me,
    ).json()
    # The new occupant's holders: its retailer and the area's TSO — not the old retailer.
    assert [p["party"] for p in req["parties"]] == ["r-new", "tso-03"]
    due = datetime.fromisoformat(req["due_at"])
    late = service.operator_list(engine, at=due + timedelta(days=1), overdue=True, kind=None)
    assert [r["id"] for r in late] == [req["id"]]
    r = client.post(
        f"/v1/rights-requests/{req['id']}/confirmation", json={}, headers=_bearer(tokens["tso-03"])
    )
    assert r.status_code == 200 and r.json()["state"] == "propagated"
    r = client.post(
        f"/v1/rights-requests/{req['id']}/confirmation",
        json={"note": "消去済み"},
        headers=_bearer(tokens["r-new"]),
    )
    assert r.status_code == 200 and r.json()["state"] == "completed"
    assert "完了" in sink.to("new@example.jp")[-1].subject
    assert service.operator_list(engine, at=due + timedelta(days=1), overdue=True, kind=None) == []
    shown = client.get(f"/v1/me/requests/{req['id']}", headers=me).json()
    assert [s["step"] for s in shown["steps"]] == ["receive", "confirm", "confirm", "complete"]
    with engine.connect() as conn:
        steps = [
            e.entry.rule_id
            for e in find_entries(conn, customer_id="c-new", limit=200)
            if e.entry.purpose == "subject:stop_use"
        ]
    assert sorted(steps) == sorted(
        [
            "subject:stop_use:receive",
            "subject:stop_use:confirm",
            "subject:stop_use:confirm",
            "subject:stop_use:complete",
        ]
    )


def test_negawatt_data_routed_to_the_dr_contractor_and_its_consent_disclosed(site: Site) -> None:
    from jointuse.demo.dr import propose_and_confirm

    client, sink, _mailer, engine, _tokens = site
    parties.add_party(
        engine,
        code="dr-one",
        kind="dr_contractor",
        name_ja="DRワン",
        name_en="DR One",
        contractor_code="DR001",
        at=datetime(2019, 1, 1, tzinfo=UTC),
    )
    # The contractor proposes; the customer (c-new) confirms through the real steps.
    propose_and_confirm(
        lambda: UnitOfWork(engine),
        contractor=Party("dr-one", "dr_contractor"),
        customer_id="c-new",
        supply_point_id=POINT,
        contract_number="NEW-1",
        postal_code="100-0001",
        agreed_on=date(2024, 5, 1),
        email="new-dr@example.jp",
        request_id="agreement",
        at=datetime(2024, 5, 1, tzinfo=UTC),
    )
    old = _enrol(client, sink, "old@example.jp", "OLD-1")
    new = _enrol(client, sink, "new@example.jp", "NEW-1")
    _req, body = _disclose(site, new, "json")
    [record] = json.loads(body)["records"]
    assert [c["code"] for c in record["categories"]["negawatt"]["controllers"]] == ["dr-one"]
    assert [p["recipient"]["code"] for p in record["provision_records"]] == ["dr-one"]
    _req, body = _disclose(site, old, "json")
    [record] = json.loads(body)["records"]
    assert record["categories"]["negawatt"]["controllers"] == []
    assert record["provision_records"] == []
    # The old occupant holds no negawatt data: nothing to correct there.
    r = client.post(
        "/v1/me/requests/correction",
        json={"category": "negawatt", "item": "baseline", "value": "0"},
        headers=old,
    )
    assert r.status_code == 422
    req = client.post(
        "/v1/me/requests/correction",
        json={"category": "negawatt", "item": "baseline", "value": "0", "reason": "DR未参加日"},
        headers=new,
    ).json()
    assert [p["party"] for p in req["parties"]] == ["dr-one"]
    stop = client.post(
        "/v1/me/requests/stop-use",
        json={"ground": "art35_5_rights_harmed", "action": "stop_provision"},
        headers=new,
    ).json()
    assert [p["party"] for p in stop["parties"]] == ["dr-one", "r-new", "tso-03"]
    # Withdrawing the DR consent goes the same way: to the contractor, whose confirmation
    # withdraws the agreement through the gate.
    mismatched = client.post(
        "/v1/me/requests/stop-use",
        json={"ground": "art35_5_breach", "action": "withdraw_consent"},
        headers=new,
    )
    assert mismatched.status_code == 422
    nothing = client.post(
        "/v1/me/requests/stop-use",
        json={"ground": "consent_withdrawn", "action": "withdraw_consent"},
        headers=old,
    )
    assert nothing.status_code == 422
    withdraw = client.post(
        "/v1/me/requests/stop-use",
        json={"ground": "consent_withdrawn", "action": "withdraw_consent"},
        headers=new,
    ).json()
    assert [p["party"] for p in withdraw["parties"]] == ["dr-one"]
    dr = _bearer(parties.issue_token(engine, "dr-one").secret)
    r = client.post(f"/v1/rights-requests/{withdraw['id']}/confirmation", json={}, headers=dr)
    assert r.status_code == 200 and r.json()["state"] == "completed"
    with engine.connect() as conn:
        withdrawn = conn.execute(
            select(dr_agreement.c.withdrawn_at).where(dr_agreement.c.customer_id == "c-new")
        ).scalar()
        writes = [
            e.entry
            for e in find_entries(conn, party="dr-one", limit=50)
            if e.entry.purpose == "P5_negawatt" and e.entry.action == "write"
        ]
    assert withdrawn is not None and len(writes) == 2  # the agreement, its withdrawal


def test_tables_module_matches_the_migration(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import jointuse.rights.requests_tables  # noqa: F401  (registers the tables)
    from jointuse.core.db import metadata

    mine = {"rights_request", "rights_request_party", "rights_request_step"}
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )

    def table_of(change: Any) -> str:
        if isinstance(change, list):
            change = change[0]
        op, obj = change[0], change[1]
        if op in ("add_table", "remove_table"):
            return str(obj.name)
        if op.endswith(("_index", "_constraint", "_fk")):
            return str(obj.table.name)
        return str(change[2])

    assert [d for d in diff if table_of(d) in mine] == []


def test_my_points_and_contracts_within_each_occupants_tenure(site: Site) -> None:
    """Each occupant of the point sees their own contract there, cut to their tenure, never the
    other's; the point's items read through the gate's subject door (on the ledger)."""
    from jointuse.rights.contracts import my_points
    from jointuse.rights.service import as_customer

    client, sink, _mailer, engine, _tokens = site
    at = datetime.now(UTC)
    names = service.party_names(engine)
    seen = {}
    for who, number in (("old", "OLD-1"), ("new", "NEW-1")):
        me = _enrol(client, sink, f"{who}@example.jp", number)
        seen[who] = as_customer(
            engine,
            me["Authorization"],
            at,
            lambda uow, account, rid=f"mc-{who}": my_points(
                uow, default_gate(), account, party_names=names, at=at, request_id=rid
            ),
        )
    [old], [new] = seen["old"], seen["new"]
    assert old["supply_point_id"] == new["supply_point_id"] == POINT
    assert [
        (c["retailer"], c["contract_number"], c["from"], c["to"], c["current"])
        for c in old["contracts"]
    ] == [("r-old", "OLD-1", "2020-01-01", "2023-01-01", False)]
    assert [
        (c["retailer"], c["contract_number"], c["from"], c["to"], c["current"])
        for c in new["contracts"]
    ] == [("r-new", "NEW-1", "2023-01-01", None, True)]
    assert new["contracts"][0]["retailer_name_ja"] == "r-new電力"
    assert old["items"]["current_limit"] == 30 and old["items"]["supply_area"] == "03"
    with engine.connect() as conn:
        reads = [
            r.entry
            for r in find_entries(conn, supply_point_id=POINT, limit=200)
            if r.entry.purpose == "subject:contracts"
        ]
    assert sorted(e.request_id for e in reads) == ["mc-new", "mc-old"]
    assert all(e.party.startswith("customer:") and e.decision == "allowed" for e in reads)


def test_a_party_lists_the_requests_addressed_to_it_without_personal_data(site: Site) -> None:
    client, sink, _mailer, _engine, tokens = site
    me = _enrol(client, sink, "new@example.jp", "NEW-1")
    made = client.post(
        "/v1/me/requests/correction",
        json={"category": "basic", "item": "phone", "value": "090-7777-8888"},
        headers=me,
    ).json()
    stop = client.post(
        "/v1/me/requests/stop-use", json={"ground": "art35_5_no_longer_needed"}, headers=me
    ).json()
    mine = client.get("/v1/rights-requests", headers=_bearer(tokens["r-new"]))
    assert mine.status_code == 200, mine.text
    listed = mine.json()["requests"]
    assert {r["id"] for r in listed} == {made["id"], stop["id"]}
    assert "09077778888" not in mine.text and POINT not in mine.text and "c-new" not in mine.text
    only = client.get(
        "/v1/rights-requests", params={"kind": "correction"}, headers=_bearer(tokens["r-new"])
    ).json()["requests"]
    assert [(r["id"], r["item"], r["your_role"], r["your_state"]) for r in only] == [
        (made["id"], "phone", "controller", "pending")
    ]
    others = client.get(
        "/v1/rights-requests", params={"kind": "correction"}, headers=_bearer(tokens["r-old"])
    )
    assert others.status_code == 200 and others.json()["requests"] == []
    assert client.get("/v1/rights-requests").status_code == 401


def test_the_controller_reads_a_correction_through_the_gate(site: Site) -> None:
    """A correction carries the customer's data: the controller's read of it is a decision of
    the gate (its P1 rule for basic items), on the ledger; a party it is not addressed to is
    refused, and the refusal is on the ledger too."""
    client, sink, _mailer, engine, tokens = site
    me = _enrol(client, sink, "new@example.jp", "NEW-1")
    req = client.post(
        "/v1/me/requests/correction",
        json={"category": "basic", "item": "phone", "value": "09011112222", "reason": "変更"},
        headers=me,
    ).json()
    seen = client.get(f"/v1/rights-requests/{req['id']}", headers=_bearer(tokens["r-new"]))
    assert seen.status_code == 200, seen.text
    assert seen.json()["detail"]["item"] == "phone"
    other = client.get(f"/v1/rights-requests/{req['id']}", headers=_bearer(tokens["r-old"]))
    assert other.status_code == 404
    with engine.connect() as conn:
        reads = [
            e.entry for e in find_entries(conn, party="r-new", limit=50) if e.entry.action == "read"
        ]
        refused = [
            e.entry
            for e in find_entries(conn, party="r-old", limit=50)
            if e.entry.decision == "denied"
        ]
    assert [(e.decision, e.rule_id, e.purpose, e.items_granted, e.customer_id) for e in reads] == [
        ("allowed", "P1-retailer", "P1_wheeling", ("phone",), "c-new")
    ]
    assert [e.items_refused[0].reason for e in refused] == ["rights_request_unknown"]


def test_the_server_prepares_a_received_disclosure_by_itself(site: Site) -> None:
    """The server's DisclosurePreparer (started with the flow clock) prepares what the customer
    asked for, with no operator: the request becomes ready and the customer is told."""
    client, sink, mailer, engine, _tokens = site
    me = _enrol(client, sink, "self@example.jp", "NEW-1")
    r = client.post("/v1/me/requests/disclosure", json={"format": "csv"}, headers=me)
    assert r.status_code == 201 and r.json()["state"] == "received"
    rid = r.json()["id"]
    told = len(sink.to("self@example.jp"))
    settings = replace(load_settings({}), rights_prepare_interval=0.2)
    app = create_app(
        engine=engine,
        settings=settings,
        run_sealer=False,
        run_scheduler=True,
        run_webhooks=False,
        environ={},
        mailer=mailer,
    )
    with TestClient(app) as server:
        preparer = app.state.disclosure_preparer
        assert isinstance(preparer, service.DisclosurePreparer)
        deadline = time.monotonic() + 20
        while rid not in preparer.prepared and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(preparer.prepared) == [rid] and preparer.failed == {}
        shown = server.get(f"/v1/me/requests/{rid}", headers=me).json()
        assert shown["state"] == "ready"
        got = server.get(f"/v1/me/requests/{rid}/download", headers=me)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert len(sink.to("self@example.jp")) == told + 1  # "your disclosure is ready"

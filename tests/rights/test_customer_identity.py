"""The customer's identity and access record over HTTP (real SMTP to a local sink), on SQLite and
PostgreSQL: enrolment by the bill's details, one-time codes, lockout and rate limits, sessions,
and "who used my data" bounded by each customer's own tenure."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from jointuse.app import create_app
from jointuse.assembly import default_gate
from jointuse.cli import app as cli_app
from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.core.mail import MailSink, mail_sink
from jointuse.customers import repository as customers_repo
from jointuse.customers import service as customers
from jointuse.customers.model import ContractKind, Customer, RetailContract, SupplyPoint
from jointuse.ledger.chain import LedgerEntry, is_pseudonym
from jointuse.ledger.service import append, find_entries, seal_all, verify
from jointuse.ledger.tables import access_ledger
from jointuse.parties import service as parties
from jointuse.policy.engine import Party
from jointuse.retention import service as retention
from jointuse.retention.config import RetentionPolicy
from jointuse.rights.tables import (
    customer_account,
    customer_session,
    identity_event,
    one_time_code,
)
from seeding import seed_contract

POINT = "0311112222333344445555"
TODAY = datetime.now(UTC).date()


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


@pytest.fixture
def site(engine: Engine) -> Iterator[tuple[TestClient, MailSink, Engine]]:
    """POINT: c-old supplied by r-old from 2020 to 2023, then c-new by r-new since 2023."""
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
    with UnitOfWork(engine) as u:
        seed_contract(
            u,
            _customer("c-old", "旧 太郎", "100-0001"),
            RetailContract(
                "OLD-1",
                ContractKind.STANDARD,
                "r-old",
                "c-old",
                SupplyPointId(POINT),
                date(2020, 1, 1),
                date(2023, 1, 1),
            ),
            at=datetime(2020, 1, 1, tzinfo=UTC),
        )
    with UnitOfWork(engine) as u:
        seed_contract(
            u,
            _customer("c-new", "新 花子", "100-0001"),
            RetailContract(
                "NEW-1",
                ContractKind.STANDARD,
                "r-new",
                "c-new",
                SupplyPointId(POINT),
                date(2023, 1, 1),
            ),
            at=datetime(2023, 1, 1, tzinfo=UTC),
        )
    # History at the point: the TSO's reads in 2021 (c-old's time) and 2024 (c-new's).
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
    with mail_sink() as (sink, mailer):
        app = create_app(engine=engine, run_sealer=False, environ={}, mailer=mailer)
        with TestClient(app) as client:
            yield client, sink, engine


def _code(sink: MailSink, email: str) -> str:
    found = re.search(r"(\d{6})", sink.to(email)[-1].body)
    assert found is not None
    return found.group(1)


def _enrol(client: TestClient, sink: MailSink, email: str, number: str) -> dict[str, Any]:
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
    return dict(r.json())


def test_each_occupant_sees_only_their_own_tenure(site: Any) -> None:
    client, sink, _engine = site
    old = _enrol(client, sink, "old@example.jp", "OLD-1")
    new = _enrol(client, sink, "new@example.jp", "NEW-1")
    seen = {}
    for who, session in (("old", old), ("new", new)):
        r = client.get(
            "/v1/me/access-log", headers={"Authorization": f"Bearer {session['session']}"}
        )
        assert r.status_code == 200, r.text
        p4 = [
            e for e in r.json()["by_purpose"].get("P4_tso_operations", []) if e["action"] == "read"
        ]
        seen[who] = sorted(e["at"][:4] for e in p4)
        if p4:
            assert p4[0]["party_name_ja"] and p4[0]["purpose_ja"].startswith("電力量の検針")
    assert seen == {"old": ["2021"], "new": ["2024"]}
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {old['session']}"}).json()
    assert [r["contract_number"] for r in me["records"]] == ["OLD-1"]


def test_details_that_do_not_match_get_the_same_answer_and_no_mail(site: Any) -> None:
    client, sink, engine = site
    r = client.post(
        "/v1/me/enrolment",
        json={
            "contract_number": "OLD-1",
            "supply_point_id": POINT,
            "postal_code": "999-9999",
            "email": "someone@example.jp",
        },
    )
    assert r.status_code == 202 and sink.to("someone@example.jp") == []
    with engine.connect() as conn:
        outcomes = conn.execute(select(identity_event.c.outcome)).scalars().all()
    assert outcomes == ["no_match"]
    r = client.post("/v1/me/sign-in", json={"email": "nobody@example.jp"})
    assert r.status_code == 202 and sink.to("nobody@example.jp") == []


def test_wrong_codes_lock_the_account_and_sends_are_limited(site: Any) -> None:
    client, sink, engine = site
    _enrol(client, sink, "old@example.jp", "OLD-1")
    assert client.post("/v1/me/sign-in", json={"email": "old@example.jp"}).status_code == 202
    good = _code(sink, "old@example.jp")
    bad = f"{(int(good) + 1) % 10**6:06d}"
    for _ in range(5):
        r = client.post("/v1/me/sign-in/confirm", json={"email": "old@example.jp", "code": bad})
        assert r.status_code == 401 and r.json()["code"] == "code_refused"
    r = client.post("/v1/me/sign-in/confirm", json={"email": "old@example.jp", "code": good})
    assert r.status_code == 401  # locked now, even with the right code
    with engine.connect() as conn:
        locked = conn.execute(
            select(func.count())
            .select_from(identity_event)
            .where(identity_event.c.outcome == "locked")
        ).scalar_one()
    assert locked == 1
    statuses = [
        client.post("/v1/me/sign-in", json={"email": "old@example.jp"}).status_code
        for _ in range(5)
    ]
    assert statuses[-1] == 429  # at most 5 codes an hour to one address


def test_sessions_end_and_joint_users_tokens_are_not_sessions(site: Any) -> None:
    client, sink, engine = site
    session = _enrol(client, sink, "old@example.jp", "OLD-1")["session"]
    headers = {"Authorization": f"Bearer {session}"}
    assert client.get("/v1/me", headers=headers).status_code == 200
    token = parties.issue_token(engine, "r-old").secret
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/v1/me/sign-out", headers=headers).status_code == 200
    assert client.get("/v1/me", headers=headers).status_code == 401


def _log(client: TestClient, session: dict[str, Any]) -> dict[str, Any]:
    r = client.get("/v1/me/access-log", headers={"Authorization": f"Bearer {session['session']}"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_erasure_keeps_the_chain_verifying_and_empties_only_that_customers_log(
    site: Any,
) -> None:
    """Retention past the end of c-old's tenure: their basic data pseudonymised, their ledger
    keys shredded (with their point's months 2020-01..2022-12); the chain still verifies, their
    access log is empty, c-new's is unchanged; a pre-pseudonym (v2) entry naming c-old in clear
    stays in the chain but is no longer found."""
    client, sink, engine = site
    with UnitOfWork(engine) as u:  # written before pseudonyms: clear IDs, format version 2
        append(
            u.connection,
            LedgerEntry(
                party="r-old", purpose="P1_wheeling", action="read", decision="allowed",
                customer_id="c-old", supply_point_id=POINT, items_granted=("name",),
                request_id="legacy-2022", recorded_at=datetime(2022, 3, 1, tzinfo=UTC),
                version=2,
            ),
        )  # fmt: skip
    old = _enrol(client, sink, "old@example.jp", "OLD-1")
    new = _enrol(client, sink, "new@example.jp", "NEW-1")
    before_old, before_new = _log(client, old), _log(client, new)
    years = {e["at"][:4] for es in before_old["by_purpose"].values() for e in es}
    assert {"2021", "2022"} <= years
    assert before_new["total"] >= 1
    seal_all(engine)
    with engine.connect() as conn:
        entries_before = conn.execute(select(func.count()).select_from(access_ledger)).scalar()

    url = engine.url.render_as_string(hide_password=False)
    dry = CliRunner().invoke(
        cli_app, ["retention", "run", "--dry-run", "--today", "2026-01-01", "--database-url", url]
    )
    assert dry.exit_code == 0, dry.output
    assert "basic: 1 customer(s) due" in dry.output and "ledger: 1 customer(s) due" in dry.output
    assert "account: 1 account(s) due" in dry.output  # c-old's; c-new's contract is open
    # c-old's contract ended 2023-01-01; 3 years pass on 2026-01-01 (not yet on 2025-12-31)
    policy = RetentionPolicy(basic=1096, ledger=1096, account=10_000)  # the account stays
    assert retention.run(engine, policy, today=date(2025, 12, 31)).due == []
    result = retention.run(engine, policy, today=date(2026, 1, 1))
    assert result.refused == [] and result.done == {"basic": 1, "ledger": 1, "account": 0}, (
        result.refused
    )
    # the v2 entry names c-old and the point: two mentions hidden; keys: c-old, point 2021-06
    assert (result.legacy_entries, result.keys_shredded) == (2, 2)
    # nothing left to do
    again = retention.run(engine, policy, today=date(2026, 1, 1))
    assert again.due == [] and again.done == {
        "basic": 0,
        "ledger": 0,
        "account": 0,
    }  # nothing left to do
    seal_all(engine)

    verified = verify(engine)
    assert verified.ok and verified.unsealed == 0
    with engine.connect() as conn:
        entries_after = conn.execute(select(func.count()).select_from(access_ledger)).scalar()
    assert entries_after == entries_before + 2  # the two erasure entries; nothing removed
    with UnitOfWork(engine, read_only=True) as u:  # before anything names c-old again
        assert find_entries(u.connection, customer_id="c-old") == []
    assert _log(client, old)["total"] == 0
    after_new = _log(client, new)
    assert after_new["by_purpose"] == before_new["by_purpose"]
    with UnitOfWork(engine, read_only=True) as u:
        at_point = find_entries(u.connection, supply_point_id=POINT)
        assert {r.entry.recorded_at.year for r in at_point if r.entry.recorded_at} >= {2024}
        assert all(r.entry.recorded_at.year != 2021 for r in at_point if r.entry.recorded_at)
        erased = [r for r in find_entries(u.connection, party="system:retention")]
        assert [r.entry.rule_id for r in erased] == ["retention:ledger"]
        # the basic data went through the gate: the platform's decision under its own rule
        (basic,) = find_entries(
            u.connection, party="jointuse-operator", purpose="retention_erasure"
        )
        assert (basic.entry.purpose, basic.entry.action, basic.entry.decision) == (
            "retention_erasure", "write", "allowed",
        )  # fmt: skip
        assert basic.entry.rule_id == "retention-basic"
        assert set(basic.entry.items_granted) == {"name", "address", "phone"}
        erased.append(basic)
        assert all(r.entry.customer_id is None or is_pseudonym(r.entry.customer_id) for r in erased)
        basic_old = customers_repo.get_customer(u.connection, "c-old")
        basic_new = customers_repo.get_customer(u.connection, "c-new")
    assert basic_old is not None and basic_old.name == "消去済"
    assert basic_new is not None and basic_new.name == "新\u3000花子"
    # c-old's reading of their (empty) log named them again: a new key, unlinkable to the
    # shredded one; the next run shreds it too
    later = retention.run(engine, policy, today=date(2026, 1, 2))
    assert later.done == {"basic": 0, "ledger": 1, "account": 0} and later.legacy_entries == 0
    seal_all(engine)
    assert verify(engine).ok


def test_a_portal_account_is_erased_when_every_customer_linked_to_it_is_past_retention(
    site: Any,
) -> None:
    """c-old's contract ended 2023-01-01: with an account period of 1096 days their account is
    erased on 2026-01-01 (not the day before) — address replaced, sessions and codes gone, the
    sign-in record kept under the placeholder's hash — and c-new's (open contract) is not."""
    client, sink, engine = site
    old = _enrol(client, sink, "old@example.jp", "OLD-1")
    new = _enrol(client, sink, "new@example.jp", "NEW-1")
    assert client.post("/v1/me/sign-in", json={"email": "old@example.jp"}).status_code == 202
    old_hash = hashlib.sha256(b"old@example.jp").hexdigest()
    with engine.connect() as conn:
        account_id = conn.execute(
            select(customer_account.c.id).where(customer_account.c.email == "old@example.jp")
        ).scalar_one()
        events_before = conn.execute(select(func.count()).select_from(identity_event)).scalar()
        assert (
            conn.execute(
                select(func.count()).where(one_time_code.c.email == "old@example.jp")
            ).scalar()
            == 2
        )  # the enrolment code (used) and the sign-in code (open)

    policy = RetentionPolicy(basic=10_000, ledger=10_000, account=1096)
    assert retention.run(engine, policy, today=date(2025, 12, 31)).due == []
    result = retention.run(engine, policy, today=date(2026, 1, 1))
    assert result.refused == [] and result.done == {"basic": 0, "ledger": 0, "account": 1}
    assert [(d.category, d.account_id) for d in result.due] == [("account", account_id)]

    old_headers = {"Authorization": f"Bearer {old['session']}"}
    assert client.get("/v1/me", headers=old_headers).status_code == 401
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {new['session']}"}).json()
    with engine.connect() as conn:
        emails = dict(conn.execute(select(customer_account.c.id, customer_account.c.email)).all())
        assert emails[account_id] == f"erased-{account_id}@erased.invalid"
        assert "new@example.jp" in emails.values()
        assert (
            conn.execute(
                select(func.count()).where(one_time_code.c.email == "old@example.jp")
            ).scalar()
            == 0
        )
        assert (
            conn.execute(
                select(func.count()).where(customer_session.c.account_id == account_id)
            ).scalar()
            == 0
        )
        assert conn.execute(select(func.count()).select_from(identity_event)).scalar() == (
            events_before
        )
        assert (
            conn.execute(
                select(func.count()).where(identity_event.c.email_hash == old_hash)
            ).scalar()
            == 0
        )
    # the old address is unknown now: the same answer, no mail; the placeholder is refused
    sent = len(sink.to("old@example.jp"))
    assert client.post("/v1/me/sign-in", json={"email": "old@example.jp"}).status_code == 202
    assert len(sink.to("old@example.jp")) == sent
    r = client.post("/v1/me/sign-in", json={"email": emails[account_id]})
    assert r.status_code == 422 and r.json()["field"] == "email", r.text
    assert ".invalid" in r.json()["detail"]

    with UnitOfWork(engine, read_only=True) as u:
        (entry,) = find_entries(u.connection, party="system:retention")
    e = entry.entry
    assert (e.rule_id, e.action, e.decision, e.customer_id, e.supply_point_id) == (
        "retention:account", "write", "allowed", None, None,
    )  # fmt: skip
    assert tuple(e.items_granted) == ("email",)
    again = retention.run(engine, policy, today=date(2026, 1, 2))
    assert again.due == [] and again.done["account"] == 0
    seal_all(engine)
    assert verify(engine).ok

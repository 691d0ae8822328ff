"""Usage inquiry by consent (使用量情報照会, issue 9), over HTTP on SQLite and PostgreSQL with a
real SMTP sink and a clock the test moves: the customer issues a consent naming a retailer and a
validity; the password (shown once, e-mailed, stored hashed) lets that retailer alone read up to
13 months of the customer's readings within their own tenure (a previous occupant's withheld),
until it expires or is withdrawn; wrong passwords lock it; each provision is recorded with the
consent it relied on, on the ledger and in the customer's disclosure."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from api_helpers import POINT, World, customer_body, supply_point_body
from fastapi.testclient import TestClient
from sqlalchemy import select

from jointuse.app import create_app
from jointuse.assembly import default_gate
from jointuse.core.calendar import JST
from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.core.mail import MailSink, mail_sink
from jointuse.customers.model import ContractKind, Customer, RetailContract
from jointuse.negawatt import service as negawatt
from jointuse.negawatt.meterdata import MeterDay
from jointuse.parties import service as parties
from jointuse.policy.engine import Party
from jointuse.rights import requests_service as rights_requests
from jointuse.usage.inquiry import MAX_ATTEMPTS, PURPOSE, months_back, password_in
from jointuse.usage.tables import usage_consent, usage_provision
from seeding import seed_contract

EMAIL = "hanako@customer.example"
# The app's clock: a little after the parties were registered (now), moved by the tests.
START = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=5)
MOVE_IN = START.astimezone(JST).date() - dt.timedelta(days=60)  # C0001's tenure begins
FIRST_DAY = MOVE_IN - dt.timedelta(days=12)  # 12 days of the previous occupant, then C0001's


class Site:
    def __init__(self, w: World, client: TestClient, sink: MailSink, now: list[dt.datetime]):
        self.w, self.client, self.sink, self.now = w, client, sink, now
        self.me: dict[str, str] = {}

    def sign_in(self) -> None:
        """A new session at the clock's moment (one lasts 12 hours)."""
        r = self.client.post("/v1/me/sign-in", json={"email": EMAIL})
        assert r.status_code == 202, r.text
        found = re.search(r"(\d{6})", self.sink.to(EMAIL)[-1].body)
        assert found
        r = self.client.post(
            "/v1/me/sign-in/confirm", json={"email": EMAIL, "code": found.group(1)}
        )
        assert r.status_code == 200, r.text
        self.me = {"Authorization": f"Bearer {r.json()['session']}"}

    def consent(self, retailer: str = "coop-mirai", days: int = 7, **extra: Any) -> Any:
        body = {"supply_point_id": POINT, "retailer": retailer, "valid_days": days, **extra}
        return self.client.post("/v1/me/usage-consents", json=body, headers=self.me)

    def inquire(self, password: str, party: str = "coop-mirai", **headers: str) -> Any:
        return self.client.post(
            "/v1/usage-inquiries",
            json={"supply_point_id": POINT, "password": password},
            headers=self.w.headers(party, **headers),
        )


@pytest.fixture
def site(world: World) -> Iterator[Site]:
    """The Tokyo point, a previous occupant C0000 (… :data:`MOVE_IN`), C0001 from then on (r-old,
    contract OLD-1), 22 days of readings across the change of occupant, C0001 enrolled; the
    app's clock at :data:`START`."""
    w = world
    r = w.client.put(
        f"/v1/supply-points/{POINT}", json=supply_point_body(), headers=w.headers("tso-03")
    )
    assert r.status_code == 201, r.text
    c = customer_body()
    for customer_id, name, number, since, until in (
        ("C0000", "前住 太郎", "PREV-1", MOVE_IN - dt.timedelta(days=400), MOVE_IN),
        ("C0001", c["name"], "OLD-1", MOVE_IN, None),
    ):
        customer = Customer.create(
            customer_id=customer_id,
            name=name,
            name_kana=c["name_kana"],
            postal_code=c["postal_code"],
            prefecture=c["prefecture"],
            address_rest=c["address"],
            phone=c["phone"],
            membership=c["membership"],
        )
        contract = RetailContract(
            number, ContractKind.STANDARD, "r-old", customer_id, SupplyPointId(POINT), since, until
        )
        with UnitOfWork(w.engine) as u:
            seed_contract(u, customer, contract, at=dt.datetime.now(dt.UTC))
    rng = np.random.default_rng(7)
    rows = [
        MeterDay(
            SupplyPointId(POINT),
            FIRST_DAY + dt.timedelta(days=d),
            np.round(rng.uniform(0.1, 2.0, 48), 1),
        )
        for d in range(22)
    ]
    with UnitOfWork(w.engine) as u:
        negawatt.import_meter_days(
            u, rows, actor=Party("tso-03", "tso"), file="t", request_id="t", at=START
        )
    now = [START]
    with mail_sink() as (sink, mailer):
        app = create_app(
            engine=w.engine, run_sealer=False, environ={}, mailer=mailer, clock=lambda: now[0]
        )
        with TestClient(app) as client:
            s = Site(w, client, sink, now)
            r = client.post(
                "/v1/me/enrolment",
                json={
                    "contract_number": "OLD-1",
                    "supply_point_id": POINT,
                    "postal_code": "100-0001",
                    "email": EMAIL,
                },
            )
            assert r.status_code == 202, r.text
            found = re.search(r"確認コード: (\d{6})", sink.to(EMAIL)[-1].body)
            assert found
            r = client.post(
                "/v1/me/enrolment/confirm", json={"email": EMAIL, "code": found.group(1)}
            )
            assert r.status_code == 200, r.text
            s.me = {"Authorization": f"Bearer {r.json()['session']}"}
            yield s


def _rows(w: World, table: Any) -> list[dict[str, Any]]:
    with w.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def test_the_consented_retailer_reads_the_customers_own_usage_and_the_provision_is_recorded(
    site: Site,
) -> None:
    s = site
    r = s.consent(days=7)
    assert r.status_code == 201, r.text
    issued = r.json()
    password, consent_id = issued["password"], issued["consent_id"]
    assert issued["state"] == "valid" and issued["retailer"] == "coop-mirai"
    mailed = s.sink.to(EMAIL)[-1]
    assert "使用量情報照会" in mailed.subject and password_in(mailed.body) == password
    [stored] = _rows(s.w, usage_consent)
    assert password not in json.dumps(stored, default=str)  # only the salted hash is kept

    ok = s.inquire(password.lower().replace("-", " - "))  # as typed by a person
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["consent_id"] == consent_id
    days = [d["date"] for d in body["interval_readings"]]
    # Only C0001's own tenure (from 2024-01-01): the previous occupant's 12 days are withheld.
    assert days == [(MOVE_IN + dt.timedelta(days=i)).isoformat() for i in range(10)]
    assert body["data_from"].startswith(f"{MOVE_IN.isoformat()}T00:00:00+09:00")

    [record] = _rows(s.w, usage_provision)
    assert record["consent_id"] == consent_id and record["recipient"] == "coop-mirai"
    assert record["customer_id"] == "C0001" and record["items"] == "interval_readings"
    assert record["days"] == 10 and record["id"] == body["provision_id"]
    entry = next(e for e in s.w.ledger() if e["purpose"] == PURPOSE)
    assert entry["decision"] == "allowed" and entry["party"] == "coop-mirai"
    assert entry["customer_id"] == "C0001" and entry["request_id"] == record["request_id"]
    assert entry["rule_id"] == f"C1-retailer-usage-inquiry consent:{consent_id}"  # names it

    log = s.client.get("/v1/me/access-log", headers=s.me).json()
    [seen] = log["by_purpose"][PURPOSE]  # the customer sees who read their usage, and why
    assert seen["party"] == "coop-mirai", seen

    mine = s.client.get("/v1/me/usage-consents", headers=s.me).json()["consents"]
    assert [c["consent_id"] for c in mine] == [consent_id]
    assert [p["provision_id"] for p in mine[0]["provisions"]] == [body["provision_id"]]

    # The customer's disclosure names the provision, the consent and the recipient.
    req = s.client.post("/v1/me/requests/disclosure", json={"format": "json"}, headers=s.me)
    assert req.status_code == 201, req.text
    rid = req.json()["id"]
    mailer = s.client.app.state.mailer  # type: ignore[attr-defined]
    done = rights_requests.process_disclosures(
        s.w.engine, default_gate(), mailer, at=s.now[0], only=rid
    )
    assert done == [rid]
    doc = s.client.get(f"/v1/me/requests/{rid}/download", headers=s.me).json()
    [rec] = doc["records"]
    provided = [p for p in rec["provision_records"] if p["basis"] == "consent (usage inquiry)"]
    assert [(p["consent_id"], p["recipient"]["code"]) for p in provided] == [
        (consent_id, "coop-mirai")
    ]
    assert provided[0]["items"] == ["interval_readings"] and provided[0]["days"] == 10


def test_thirteen_months_back_at_most(site: Site) -> None:
    s = site
    s.now[0] = START + dt.timedelta(days=400)
    s.sign_in()
    s.w.tokens["coop-mirai"] = parties.issue_token(s.w.engine, "coop-mirai", at=s.now[0]).secret
    password = s.consent(days=1).json()["password"]
    got = s.inquire(password).json()
    assert [d["date"] for d in got["interval_readings"]] == []  # all readings are older
    oldest = months_back(s.now[0].astimezone(JST).date(), 13)
    assert oldest > MOVE_IN + dt.timedelta(days=10)
    assert got["data_from"].startswith(oldest.isoformat())


def test_expiry_withdrawal_and_one_live_consent(site: Site) -> None:
    s = site
    first = s.consent(days=1).json()
    again = s.consent(days=7)
    assert again.status_code == 409 and again.json()["rule"] == "uq_usage_consent_live_key"
    s.now[0] = START + dt.timedelta(days=1, minutes=1)
    late = s.inquire(first["password"])
    assert late.status_code == 403 and late.json()["reason"] == "consent_expired", late.text
    assert s.w.ledger()[0]["rule_id"] == f"usage_inquiry consent:{first['consent_id']}"
    # Expired, it no longer holds the place: the customer gives a new one, then withdraws it.
    s.sign_in()
    second = s.consent(days=31)
    assert second.status_code == 201, second.text
    cid = second.json()["consent_id"]
    assert s.inquire(second.json()["password"]).status_code == 200
    s.sign_in()
    w = s.client.post(f"/v1/me/usage-consents/{cid}/withdraw", headers=s.me)
    assert w.status_code == 200 and w.json()["state"] == "withdrawn", w.text
    gone = s.inquire(second.json()["password"])
    assert gone.status_code == 403 and gone.json()["reason"] == "consent_withdrawn"
    twice = s.client.post(f"/v1/me/usage-consents/{cid}/withdraw", headers=s.me)
    assert twice.status_code == 409
    refused = [e for e in s.w.ledger() if e["purpose"] == PURPOSE and e["decision"] == "denied"]
    assert len(refused) == 2
    steps = [e["rule_id"] for e in s.w.ledger() if e["purpose"] == "subject:usage_consent"]
    assert steps.count("subject:usage_consent:issued") == 3  # two issued, one refused (409)
    assert "subject:usage_consent:withdrawn" in steps


def test_another_retailer_and_wrong_passwords_are_refused_and_guessing_locks(site: Site) -> None:
    s = site
    password = s.consent().json()["password"]
    other = s.inquire(password, party="r-other")
    assert other.status_code == 403 and other.json()["reason"] == "no_consent"
    # The generic read under the consent purpose opens nothing without the password.
    plain = s.client.get(
        f"/v1/supply-points/{POINT}",
        params={"items": "interval_readings"},
        headers=s.w.headers("coop-mirai", PURPOSE),
    )
    assert plain.status_code == 403, plain.text
    for _ in range(MAX_ATTEMPTS):
        wrong = s.inquire("AAAA-BBBB-CCCC")
        assert wrong.status_code == 403 and wrong.json()["reason"] == "wrong_password"
    locked = s.inquire(password)
    assert locked.status_code == 403 and locked.json()["reason"] == "consent_locked"
    [stored] = _rows(s.w, usage_consent)
    assert stored["failed_attempts"] == MAX_ATTEMPTS and stored["locked_at"] is not None
    assert _rows(s.w, usage_provision) == []
    denied = [e for e in s.w.ledger() if e["purpose"] == PURPOSE and e["decision"] == "denied"]
    assert {e["party"] for e in denied} == {"coop-mirai", "r-other"}
    assert len(denied) == 1 + 1 + MAX_ATTEMPTS + 1
    # Locked, the place is free: a new consent can be given.
    assert s.consent().status_code == 201


def test_bad_input_names_the_field_and_the_customer_only_consents_for_their_own_point(
    site: Site,
) -> None:
    s = site
    r = s.consent(days=3)
    assert r.status_code == 422 and r.json()["field"] == "valid_days"
    r = s.consent(retailer="tso-03")
    assert r.status_code == 422 and r.json()["field"] == "retailer"
    r = s.client.post(
        "/v1/me/usage-consents",
        json={"supply_point_id": "0612345678901234567890", "retailer": "r-other", "valid_days": 1},
        headers=s.me,
    )
    assert r.status_code == 404 and r.json()["field"] == "supply_point_id"
    assert _rows(s.w, usage_consent) == []
    # A retailer's token is no customer session: the retailer cannot create a consent.
    r = s.client.post(
        "/v1/me/usage-consents",
        json={"supply_point_id": POINT, "retailer": "coop-mirai", "valid_days": 7},
        headers=s.w.headers("coop-mirai"),
    )
    assert r.status_code == 401


def test_the_operator_lists_the_records_and_the_reading_is_on_the_ledger(
    site: Site, database_url: str
) -> None:
    from typer.testing import CliRunner

    from jointuse.cli import app

    s = site
    issued = s.consent().json()
    assert s.inquire(issued["password"]).status_code == 200
    args = ["usage-inquiry", "records", "--customer", "C0001", "--auditor", "auditor-1"]
    listed = CliRunner().invoke(app, [*args, "--json", "--database-url", database_url])
    assert listed.exit_code == 0, listed.output
    [record] = json.loads(listed.stdout)
    assert record["consent_id"] == issued["consent_id"] and record["recipient"] == "coop-mirai"
    shown = s.w.ledger()[0]
    assert shown["purpose"] == "audit:usage_provisions" and shown["customer_id"] == "C0001"
    none = CliRunner().invoke(
        app,
        [
            "usage-inquiry",
            "records",
            "--customer",
            "C0000",
            "--auditor",
            "a",
            "--database-url",
            database_url,
        ],
    )
    assert none.exit_code == 0 and "0 record(s)" in none.stderr

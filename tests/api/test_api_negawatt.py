"""The negawatt API over the real app, on SQLite and PostgreSQL: a DR contractor operates
without Python — group, agreement, resource, event (create, amend, cancel), settlement with
options, the stored run as JSON and CSV — and the parties the policy allows read a point's
results, the others are refused on the ledger."""

from __future__ import annotations

import csv
import datetime as dt
import io

import numpy as np
import pytest
from api_helpers import POINT, World, assert_problem

from jointuse.core.db import UnitOfWork
from jointuse.core.ids import SupplyPointId
from jointuse.demo.dr import confirm_as_customer
from jointuse.negawatt import service
from jointuse.negawatt.meterdata import MeterDay
from jointuse.parties import service as parties
from jointuse.policy.engine import Party

BASE = "/v1/negawatt"


@pytest.fixture
def contractor(registered: World) -> World:
    """``registered`` (C0001 supplied by r-old at the Tokyo point), two DR contractors, and 31
    days of meter data imported by the area's TSO."""
    w = registered
    for code in ("dr-one", "dr-two"):
        parties.add_party(
            w.engine,
            code=code,
            kind="dr_contractor",
            name_ja="DR",
            name_en=code,
            contractor_code=code.upper(),
        )
        w.tokens[code] = parties.issue_token(w.engine, code).secret
    rng = np.random.default_rng(11)
    first = dt.date(2024, 6, 4)
    rows = [
        MeterDay(
            SupplyPointId(POINT),
            first + dt.timedelta(days=d),
            np.round(rng.uniform(0.1, 2.0, 48), 1),
        )
        for d in range(31)
    ]
    with UnitOfWork(w.engine) as u:
        service.import_meter_days(
            u,
            rows,
            actor=Party("tso-03", "tso"),
            file="t",
            request_id="t",
            at=dt.datetime.now(dt.UTC),
        )
    return w


def test_a_contractor_operates_from_group_to_csv(contractor: World) -> None:
    w = contractor
    h = w.headers("dr-one")
    r = w.client.post(f"{BASE}/balancing-groups", json={"code": "BG-1", "name": "一"}, headers=h)
    assert r.status_code == 201, r.text
    r = w.client.post(
        f"{BASE}/agreements",
        json={"customer_id": "C0001", "supply_point_id": POINT, "agreed_on": "2024-05-01"},
        headers=h,
    )
    assert r.status_code == 201 and r.json()["state"] == "proposed", r.text
    agreement = r.json()["agreement_id"]
    resource = {"agreement_id": agreement, "group_code": "BG-1"}
    r = w.client.post(f"{BASE}/resources", json=resource, headers=h)
    assert r.status_code == 403, "a proposal opens nothing until the customer confirms it"
    confirm_as_customer(
        lambda: UnitOfWork(w.engine),
        agreement_id=agreement,
        supply_point_id=POINT,
        contract_number="OLD-1",
        postal_code="100-0001",
        email="c0001@customer.example",
        at=dt.datetime.now(dt.UTC),
    )
    r = w.client.post(f"{BASE}/resources", json=resource, headers=h)
    assert r.status_code == 201, r.text
    event = {"day": "2024-07-04", "first_slot": 27, "last_slot": 34, "resources": [POINT]}
    r = w.client.post(f"{BASE}/events", json={**event, "event_id": "ev-1"}, headers=h)
    assert r.status_code == 201, r.text
    r = w.client.patch(f"{BASE}/events/ev-1", json={"first_slot": 29}, headers=h)
    assert r.status_code == 200 and r.json()["first_slot"] == 29, r.text
    r = w.client.post(f"{BASE}/events", json={**event, "event_id": "ev-2"}, headers=h)
    r = w.client.post(f"{BASE}/events/ev-2/cancellation", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text

    # Settlement with options; a bad option is a 422 naming it, nothing stored.
    r = w.client.post(f"{BASE}/events/ev-1/settlements", json={"options": {"x": 1}}, headers=h)
    assert_problem(r, 422, "invalid_input")
    options = {"adjustment": "multiplicative", "adjustment_clamp": [0.8, 1.2]}
    r = w.client.post(f"{BASE}/events/ev-1/settlements", json={"options": options}, headers=h)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["method"].startswith("High 4 of 5 / High 2 of 3, multiplicative fixed")
    assert run["params"]["options"]["adjustment_clamp"] == [0.8, 1.2]
    total = run["summary"]["contractor"]["suppressed_kwh"]

    r = w.client.get(f"{BASE}/settlements/{run['run_id']}", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["inputs"]) == 31 and body["results"][0]["status"] == "ok"
    assert body["results"][0]["settled_kwh"] == total
    r = w.client.get(f"{BASE}/settlements/{run['run_id']}?format=csv", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows[-1]["level"] == "contractor" and rows[-1]["suppressed_kwh"] == total

    # Amending or cancelling a settled event: 409 naming the reason.
    r = w.client.patch(f"{BASE}/events/ev-1", json={"last_slot": 40}, headers=h)
    assert_problem(r, 409, "event_conflict")
    # Another contractor: the run is not theirs (404), the point's results are refused (403).
    r = w.client.get(f"{BASE}/settlements/{run['run_id']}", headers=w.headers("dr-two"))
    assert_problem(r, 404, "not_found")

    # The point's results, for every party the policy allows under P5: the contractor, the
    # retailer supplying the point, the area's TSO. (OCCTO reads only what it relays while it
    # relays it: no flow of this point is in flight, so it is refused like the others.)
    for party in ("dr-one", "r-old", "tso-03"):
        r = w.client.get(f"{BASE}/supply-points/{POINT}/results", headers=w.headers(party))
        assert r.status_code == 200, (party, r.text)
        assert r.json()["results"][0]["settled_kwh"] == total, party
    for party in ("dr-two", "r-other", "coop-mirai", "tso-06", "occto"):
        before = w.counts()["access_ledger"]
        r = w.client.get(f"{BASE}/supply-points/{POINT}/results", headers=w.headers(party))
        assert r.status_code == 403, (party, r.text)
        assert w.counts()["access_ledger"] == before + 1
        assert (w.ledger()[0]["party"], w.ledger()[0]["decision"]) == (party, "denied")

"""Tests through the real app over HTTP, on SQLite and PostgreSQL: P3, P4, supply points."""

from __future__ import annotations

from api_helpers import OTHER_POINT, P3, P4, POINT, World, file_switch, supply_point_body

from jointuse.customers.model import SUPPLY_POINT_ITEM_KEYS

PROBLEM = "application/problem+json"


def _apply(world: World, retailer: str = "coop-mirai") -> None:
    """``retailer`` files a switch of POINT: it becomes the point's applicant."""
    file_switch(world, retailer)


def test_tso_registers_then_updates_a_supply_point(world: World) -> None:
    r = world.client.put(
        f"/v1/supply-points/{POINT}", json=supply_point_body(), headers=world.headers("tso-03")
    )
    assert r.status_code == 201, r.text
    assert r.json()["access"]["purpose"] == P4
    assert r.json()["result"] == {"created": True}
    r = world.client.put(
        f"/v1/supply-points/{POINT}",
        json=supply_point_body(current_limit=40),
        headers=world.headers("tso-03"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"] == {"created": False}
    ledger = world.ledger()
    assert [(e["party"], e["action"], e["decision"]) for e in ledger[:2]] == [
        ("tso-03", "write", "allowed"),
        ("tso-03", "write", "allowed"),
    ]


def test_other_tso_cannot_register_a_point_of_another_area(world: World) -> None:
    before = world.counts()
    r = world.client.put(
        f"/v1/supply-points/{POINT}", json=supply_point_body(), headers=world.headers("tso-06")
    )
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["reason"] == "relation_missing"
    after = world.counts()
    assert after["supply_point"] == before["supply_point"]
    assert after["access_ledger"] == before["access_ledger"] + 1  # the refusal, recorded
    assert world.ledger()[0]["decision"] == "denied"


def test_p3_inquiry_only_for_the_applicant_and_only_supply_point_items(registered: World) -> None:
    w = registered
    r = w.client.get(f"/v1/supply-points/{POINT}", headers=w.headers("coop-mirai"))
    assert r.status_code == 403, r.text  # no switch filed yet
    assert r.json()["reason"] == "relation_missing"
    assert r.json()["purpose"] == P3

    _apply(w)
    grouped = "03 1234 5678 9012 3456 7890"
    r = w.client.get(f"/v1/supply-points/{grouped}", headers=w.headers("coop-mirai"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["items"]) == set(SUPPLY_POINT_ITEM_KEYS)
    assert body["items"]["supply_point_id"] == POINT
    assert body["items"]["current_limit"] == 30
    assert body["access"]["purpose"] == P3
    assert body["access"]["relation"] == "applicant"
    assert "name" not in body["items"] and "phone" not in body["items"]
    entry = w.ledger()[0]
    assert (entry["party"], entry["purpose"], entry["decision"]) == ("coop-mirai", P3, "allowed")
    assert entry["supply_point_id"] == POINT

    # Same request, explicit purpose header: same answer.
    r = w.client.get(f"/v1/supply-points/{POINT}", headers=w.headers("coop-mirai", P3))
    assert r.status_code == 200

    # Another retailer, no switch filed: refused and recorded.
    before = w.counts()
    r = w.client.get(f"/v1/supply-points/{POINT}", headers=w.headers("r-other"))
    assert r.status_code == 403
    problem = r.json()
    assert problem["code"] == "access_denied"
    assert problem["reason"] == "relation_missing"
    assert problem["items_refused"] and problem["items_refused"][0]["reason"] == "relation_missing"
    assert w.counts()["access_ledger"] == before["access_ledger"] + 1
    assert w.ledger()[0]["party"] == "r-other"


def test_p3_inquiry_asking_for_items_outside_the_rule_is_refused_item_by_item(
    registered: World,
) -> None:
    _apply(registered)
    r = registered.client.get(
        f"/v1/supply-points/{POINT}",
        params={"items": "supply_area,name"},
        headers=registered.headers("coop-mirai"),
    )
    assert r.status_code == 403, r.text
    refused = {i["item"]: i["reason"] for i in r.json()["items_refused"]}
    assert refused == {"name": "item_not_permitted"}


def test_p4_customer_lookup_for_the_area_tso_only(registered: World) -> None:
    w = registered
    r = w.client.get(f"/v1/supply-points/{POINT}/customer", headers=w.headers("tso-03", P4))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert set(items) == {"name", "address", "phone"}
    assert items["name"]["kanji"] == "山田\u3000花子"
    assert items["phone"] == "0312345678"
    assert items["address"]["prefecture"] == "東京都"
    assert w.ledger()[0]["purpose"] == P4

    # The TSO of another area, and a retailer: refused, recorded.
    for party in ("tso-06", "r-other"):
        before = w.counts()["access_ledger"]
        r = w.client.get(f"/v1/supply-points/{POINT}/customer", headers=w.headers(party, P4))
        assert r.status_code == 403, (party, r.text)
        assert r.json()["rule"] is not None or r.json()["reason"] in ("no_rule", "relation_missing")
        assert w.counts()["access_ledger"] == before + 1
        assert (w.ledger()[0]["party"], w.ledger()[0]["decision"]) == (party, "denied")


def test_retailer_reads_its_own_customer(registered: World) -> None:
    w = registered
    r = w.client.get(
        "/v1/customers/C0001",
        params={"items": "name,contract_number"},
        headers=w.headers("r-old", "P1_wheeling"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["items"]["contract_number"] == "OLD-1"
    r = w.client.get("/v1/customers/C0001", headers=w.headers("r-other", "P1_wheeling"))
    assert r.status_code == 403


def test_contacts_need_a_work_order_even_for_the_area_tso(world: World) -> None:
    """Need-to-know: being the area's TSO opens no contact data; a work order holding the point
    does (and none can hold an unknown point, so its existence is not revealed either)."""
    r = world.client.get(f"/v1/supply-points/{POINT}/customer", headers=world.headers("tso-03", P4))
    assert r.status_code == 403, r.text
    assert r.json()["reason"] == "relation_missing"
    assert "work_order" in r.json()["detail"]
    r = world.client.get(
        f"/v1/supply-points/{OTHER_POINT}/customer", headers=world.headers("tso-03", P4)
    )
    assert r.status_code == 403  # not its area: the policy answers, existence is not revealed


def test_parties_registry_is_public(world: World) -> None:
    r = world.client.get("/v1/parties")
    assert r.status_code == 200
    codes = {p["code"] for p in r.json()["parties"]}
    assert {"coop-mirai", "tso-03", "occto"} <= codes
    r = world.client.get("/v1/parties", params={"kind": "tso"})
    assert len(r.json()["parties"]) == 10
    r = world.client.get("/v1/parties/coop-mirai")
    assert r.json()["meti_registration"] == "A0001"
    assert "token" not in r.text
    r = world.client.get("/v1/parties/nobody")
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    r = world.client.get("/v1/parties", params={"kind": "wizard"})
    assert r.status_code == 422 and r.json()["field"] == "kind"


def test_openapi_document_is_3_1_and_lists_the_routes(world: World) -> None:
    doc = world.client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert "/v1/supply-points/{supply_point_id}" in doc["paths"]
    assert not any(p.startswith("/v1/_bench") for p in doc["paths"])


def test_allowed_reads_of_every_granted_item_never_end_in_500(registered: World) -> None:
    """Issue 12: the area TSO reading a customer under P4 with no ``items`` was granted
    ``interval_readings`` and answered 500 (no loader in the API's gate). The API's gate is the
    assembled one: readings load (none imported yet: an empty list), and so do the negawatt
    items (stored settlement results; none yet)."""
    w = registered
    r = w.client.get("/v1/customers/C0001", headers=w.headers("tso-03", P4))
    assert r.status_code == 200, r.text
    granted = set(r.json()["items"])
    # with no items asked, the rule granting the most: the supply point items the TSO controls
    # and its readings (P4-tso); never the basic information
    assert {"current_limit", "interval_readings"} <= granted
    assert not granted & {"name", "address", "phone", "contract_number"}
    assert w.ledger()[0]["rule_id"] == "P4-tso"
    r = w.client.get(
        "/v1/customers/C0001",
        params={"items": "name,address,phone"},
        headers=w.headers("tso-03", P4),
    )
    assert r.status_code == 200, r.text
    assert set(r.json()["items"]) == {"name", "address", "phone"}  # the work order's grant
    assert w.ledger()[0]["rule_id"] == "P4-tso-field-work"
    r = w.client.get(
        "/v1/customers/C0001",
        params={"items": "interval_readings"},
        headers=w.headers("tso-03", P4),
    )
    assert r.status_code == 200, r.text
    assert r.json()["items"]["interval_readings"] == []
    assert (w.ledger()[0]["decision"], w.ledger()[0]["rule_id"]) == ("allowed", "P4-tso")

    before = w.counts()["access_ledger"]
    r = w.client.get("/v1/customers/C0001", headers=w.headers("tso-03", "P5_negawatt"))
    assert r.status_code == 200, r.text
    assert r.json()["items"] == {"baseline": [], "demand_suppressed": []}
    assert w.counts()["access_ledger"] == before + 1
    assert (w.ledger()[0]["decision"], w.ledger()[0]["rule_id"]) == ("allowed", "P5-tso")

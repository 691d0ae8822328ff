"""``Idempotency-Key`` on the writes of the API (the real app), on SQLite and PostgreSQL: one
effect per key and the first answer replayed; another request under the key a 422 naming the
header; refusals not kept; a replayed judgement without personal data; bulk rows keyed; and — on
PostgreSQL over real sockets — concurrent requests with one key giving one effect."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from api_helpers import POINT, World, file_switch, supply_point_body, switch_body
from sqlalchemy import text

from jointuse.app import create_app
from jointuse.demo.live import serve

KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def _inbox(w: World, party: str) -> list[str]:
    r = w.client.get("/v1/inbox", headers=w.headers(party))
    return [m["kind"] for m in r.json()["messages"]]


def test_a_switch_sent_twice_under_one_key_is_filed_once(registered: World) -> None:
    w = registered
    headers = w.headers("coop-mirai", **{KEY: "switch-0001"})
    first = w.client.post("/v1/switches", json=switch_body(), headers=headers)
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    before = w.counts()
    again = w.client.post("/v1/switches", json=switch_body(), headers=headers)
    assert again.status_code == 201 and again.headers[REPLAYED] == "true"
    assert again.json() == first.json()
    assert w.counts() == before  # no second flow, no ledger entry: nothing ran
    assert _inbox(w, "r-old").count("forwarding_received") == 1

    other = w.client.post(
        "/v1/switches", json=switch_body(new_contract_number="CM-002"), headers=headers
    )
    assert other.status_code == 422, other.text
    assert other.json()["field"] == KEY and "another body" in other.json()["detail"]
    elsewhere = w.client.post(
        "/v1/move-outs",
        json={"supply_point_id": POINT, "wished_date": "2025-04-01"},
        headers=headers,
    )
    assert elsewhere.status_code == 422 and "another route" in elsewhere.json()["detail"]
    after = w.counts()
    # Nothing ran; the two refusals of the authenticated caller are on the ledger.
    assert after["access_ledger"] == before["access_ledger"] + 2
    assert {k: v for k, v in after.items() if k != "access_ledger"} == {
        k: v for k, v in before.items() if k != "access_ledger"
    }

    bad = w.client.post(
        "/v1/switches", json=switch_body(), headers=w.headers("coop-mirai", **{KEY: "x" * 201})
    )
    assert bad.status_code == 422 and bad.json()["field"] == KEY


def test_a_refusal_is_not_kept_the_retry_runs_again(registered: World) -> None:
    w = registered
    filed = file_switch(w)  # coop-mirai's switch is in flight
    headers = w.headers("r-other", **{KEY: "other-0001"})
    body = switch_body(new_contract_number="OT-001")
    refused = w.client.post("/v1/switches", json=body, headers=headers)
    assert refused.status_code == 409 and refused.json()["rule"] == "uq_market_flow_one_in_flight"
    r = w.client.post(
        f"/v1/flows/{filed['flow']['flow_id']}/withdraw", json={}, headers=w.headers("coop-mirai")
    )
    assert r.status_code == 200, r.text
    retried = w.client.post("/v1/switches", json=body, headers=headers)
    assert retried.status_code == 201, retried.text  # the cause is gone: it runs, and is kept
    assert REPLAYED not in retried.headers
    replayed = w.client.post("/v1/switches", json=body, headers=headers)
    assert replayed.headers[REPLAYED] == "true" and replayed.json() == retried.json()


def test_a_replayed_judgement_carries_no_personal_data(registered: World) -> None:
    w = registered
    fw_id = file_switch(w)["forwarding_id"]
    headers = w.headers("r-old", **{KEY: "judge-0001"})
    url = f"/v1/forwardings/{fw_id}/judgement"
    first = w.client.post(url, json={"auto": True}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["match"]["name"]["forwarded"]  # the compared texts, read via the gate
    again = w.client.post(url, json={"auto": True}, headers=headers)
    assert again.status_code == 200 and again.headers[REPLAYED] == "true"
    kept = again.json()
    assert kept["result"] == first.json()["result"] and kept["state"] == first.json()["state"]
    name = kept["match"]["name"]
    assert "forwarded" not in name and "record" not in name
    assert name["outcome"] == first.json()["match"]["name"]["outcome"]
    with w.engine.connect() as conn:
        stored = " ".join(conn.execute(text("SELECT response FROM idempotency_key")).scalars())
    assert "山田" not in stored and "千代田" not in stored


def test_supply_point_inbox_ack_and_settings_writes_replay(registered: World) -> None:
    w = registered
    point = "0312345678901234567891"
    headers = w.headers("tso-03", **{KEY: "sp-0001"})
    first = w.client.put(f"/v1/supply-points/{point}", json=supply_point_body(), headers=headers)
    assert first.status_code == 201, first.text
    before = w.counts()
    again = w.client.put(f"/v1/supply-points/{point}", json=supply_point_body(), headers=headers)
    assert (again.status_code, again.headers[REPLAYED]) == (201, "true")
    assert again.json() == first.json() and w.counts() == before  # no second ledger entry

    file_switch(w)
    (message,) = w.client.get("/v1/inbox", headers=w.headers("r-old")).json()["messages"]
    ack = w.headers("r-old", **{KEY: "ack-0001"})
    r1 = w.client.post("/v1/inbox/ack", json={"ids": [message["id"]]}, headers=ack)
    r2 = w.client.post("/v1/inbox/ack", json={"ids": [message["id"]]}, headers=ack)
    assert r1.json() == r2.json() == {"acknowledged": 1} and r2.headers[REPLAYED] == "true"

    s = w.headers("r-old", **{KEY: "settings-0001"})
    r1 = w.client.put("/v1/switching-settings", json={"auto_judge": True}, headers=s)
    r2 = w.client.put("/v1/switching-settings", json={"auto_judge": True}, headers=s)
    assert r1.status_code == 200 and r2.headers[REPLAYED] == "true"


def test_bulk_rows_are_keyed_one_by_one(registered: World) -> None:
    w = registered
    headers = w.headers("coop-mirai", **{KEY: "bulk-0001"})
    rows = [switch_body(), switch_body(supply_point_id="03-xx")]
    first = w.client.post("/v1/switches/bulk", json=rows, headers=headers)
    assert first.status_code == 200, first.text
    ok, bad = first.json()["rows"]
    assert ok["status"] == 201 and bad["status"] == 422
    before = w.counts()["market_flow"]
    again = w.client.post("/v1/switches/bulk", json=rows, headers=headers)
    assert again.json()["rows"][0] == ok  # the filed row replayed: the same flow
    assert again.json()["rows"][1]["status"] == 422
    assert w.counts()["market_flow"] == before == 1
    other = w.client.post("/v1/switches/bulk", json=rows[:1], headers=headers)
    assert other.status_code == 422 and other.json()["field"] == KEY


def test_concurrent_requests_with_one_key_have_one_effect_over_real_http(
    registered: World, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: the race needs concurrent transactions")
    w = registered
    app = create_app(engine=w.engine, run_sealer=False, environ={})
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        for trial in range(3):
            key = f"race-{trial}"

            def race(bodies: list[dict[str, Any]], key: str = key) -> list[httpx.Response]:
                barrier = threading.Barrier(len(bodies))
                answers: list[httpx.Response] = []

                def send(body: dict[str, Any]) -> None:
                    barrier.wait(timeout=10)
                    answers.append(
                        client.post(
                            "/v1/switches", json=body, headers=w.headers("coop-mirai", **{KEY: key})
                        )
                    )

                threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(30)
                return answers

            same = race([switch_body(new_contract_number=f"CM-{trial}")] * 4)
            assert [a.status_code for a in same] == [201] * 4, [a.text for a in same]
            assert len({a.json()["flow"]["flow_id"] for a in same}) == 1  # one effect
            assert sum(1 for a in same if a.headers.get(REPLAYED) == "true") == 3
            flow_id = same[0].json()["flow"]["flow_id"]
            r = client.post(
                f"/v1/flows/{flow_id}/withdraw", json={}, headers=w.headers("coop-mirai")
            )
            assert r.status_code == 200, r.text

            key = f"race-other-{trial}"
            mixed = race([switch_body(new_contract_number=f"X-{trial}-{n}") for n in range(2)], key)
            assert sorted(a.status_code for a in mixed) == [201, 422], [a.text for a in mixed]
            loser = next(a for a in mixed if a.status_code == 422).json()
            assert loser["field"] == KEY
            winner = next(a for a in mixed if a.status_code == 201).json()
            r = client.post(
                f"/v1/flows/{winner['flow']['flow_id']}/withdraw",
                json={},
                headers=w.headers("coop-mirai"),
            )
            assert r.status_code == 200, r.text
    with w.engine.connect() as conn:
        flows = conn.execute(text("SELECT count(*) FROM market_flow")).scalar_one()
    assert flows == 6  # three trials, two flows each: never a second effect of one key


def test_work_order_writes_replay_under_their_key(registered: World) -> None:
    w = registered
    body = {
        "kind": "meter_reading",
        "reason": "検針",
        "starts_at": "2025-04-01T00:00:00+09:00",
        "ends_at": "2025-04-02T00:00:00+09:00",
        "points": [POINT],
    }
    headers = w.headers("tso-03", **{KEY: "wo-0001"})
    listed = w.client.get("/v1/work-orders", headers=w.headers("tso-03")).json()["orders"]
    first = w.client.post("/v1/work-orders", json=body, headers=headers)
    assert first.status_code == 201, first.text
    before = w.counts()
    again = w.client.post("/v1/work-orders", json=body, headers=headers)
    assert (again.status_code, again.headers[REPLAYED]) == (201, "true")
    assert again.json() == first.json() and w.counts() == before
    orders = w.client.get("/v1/work-orders", headers=w.headers("tso-03")).json()["orders"]
    assert len(orders) == len(listed) + 1  # one order opened, not two
    assert first.json()["order_id"] in {o["order_id"] for o in orders}
    feeder = w.headers("tso-03", **{KEY: "feeder-0001"})
    r1 = w.client.put("/v1/feeders/F-1", json={"points": [POINT]}, headers=feeder)
    r2 = w.client.put("/v1/feeders/F-1", json={"points": [POINT]}, headers=feeder)
    assert r1.status_code == 200, r1.text
    assert r2.headers[REPLAYED] == "true" and r2.json() == r1.json()

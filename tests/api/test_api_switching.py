"""The market flows over HTTP (the real app), on SQLite and PostgreSQL: a switch from filing to
its date, the inbox, bulk filings with a result per row (JSON and CSV, UTF-8 and Shift_JIS),
the results CSV, and — on PostgreSQL, over real sockets — two retailers filing at once."""

from __future__ import annotations

import csv
import io
import threading
from typing import Any

import httpx
import pytest
from api_helpers import World, customer_body, file_switch, switch_body

from jointuse.app import create_app
from jointuse.demo.live import serve


def _inbox(w: World, party: str) -> list[str]:
    r = w.client.get("/v1/inbox", headers=w.headers(party))
    assert r.status_code == 200, r.text
    return [m["kind"] for m in r.json()["messages"]]


def test_a_switch_over_http_with_an_automatic_judgement(registered: World) -> None:
    w = registered
    filed = file_switch(w)
    flow_id, fw_id = filed["flow"]["flow_id"], filed["forwarding_id"]
    assert filed["flow"]["counterpart"] == "r-old"
    assert "forwarding_received" in _inbox(w, "r-old")

    # The old retailer reads what was forwarded to it: name, address, its contract number.
    r = w.client.get(f"/v1/forwardings/{fw_id}", headers=w.headers("r-old"))
    assert r.status_code == 200, r.text
    assert r.json()["access"]["rule"] == "P2-old-retailer"
    assert r.json()["items"]["contract_number"] == "OLD-1"
    # The new retailer reads only the judgement; another retailer nothing (403, recorded).
    r = w.client.get(f"/v1/forwardings/{fw_id}", headers=w.headers("coop-mirai"))
    assert set(r.json()["items"]) == {"forwarding_judgement"}
    assert w.client.get(f"/v1/forwardings/{fw_id}", headers=w.headers("r-other")).status_code == 403

    # Automatic judgement: the forwarded name and address against r-old's own record.
    r = w.client.post(
        f"/v1/forwardings/{fw_id}/judgement", json={"auto": True}, headers=w.headers("r-old")
    )
    assert r.status_code == 200, r.text
    judged = r.json()
    assert (judged["result"], judged["mode"], judged["state"]) == ("ok", "auto", "matched")
    assert judged["match"]["name"]["outcome"] in ("exact", "equivalent")
    assert judged["match"]["address"]["outcome"] in ("exact", "equivalent")
    assert {"forwarding_judged", "flow_matched"} <= set(_inbox(w, "coop-mirai"))

    # A step the state does not allow: 409 with the state and the allowed steps.
    r = w.client.post(f"/v1/flows/{flow_id}/withdraw", json={}, headers=w.headers("r-other"))
    assert r.status_code == 403  # not the filer: no relation, refused by the gate
    r = w.client.post(f"/v1/flows/{flow_id}/date", json={}, headers=w.headers("tso-03"))
    assert r.status_code == 200, r.text
    assert r.json()["flow"]["state"] == "date_fixed"
    r = w.client.post(f"/v1/flows/{flow_id}/date", json={}, headers=w.headers("tso-03"))
    assert r.status_code == 409, r.text
    assert r.json()["state"] == "date_fixed" and r.json()["allowed"] == ["complete", "withdraw"]

    # The flow's parties read it (no personal data in it); others get 404.
    view = w.client.get(f"/v1/flows/{flow_id}", headers=w.headers("occto")).json()["flow"]
    assert [t["step"] for t in view["transitions"]] == ["file", "judge_ok", "fix_date"]
    assert "山田" not in str(view)
    assert w.client.get(f"/v1/flows/{flow_id}", headers=w.headers("r-other")).status_code == 404

    # The filer's results CSV: the 廃止取次 number, the judgement, each step's time.
    r = w.client.get("/v1/flows/csv", headers=w.headers("coop-mirai"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert (row["forwarding_id"], row["judgement"], row["state"]) == (fw_id, "ok", "date_fixed")
    assert row["steps"].count("@") == 3


def test_bulk_filings_give_a_result_per_row(registered: World) -> None:
    w = registered
    rows = [
        switch_body(),
        switch_body(new_contract_number="CM-002"),  # the point has a switch in flight now
        switch_body(customer=customer_body(phone="12")),  # malformed phone
        switch_body(supply_point_id="03" + "9" * 20),  # unknown point
    ]
    r = w.client.post("/v1/switches/bulk", json=rows, headers=w.headers("coop-mirai"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["filed"], out["refused"]) == (1, 3)
    got = [(x["row"], x["status"], x["code"]) for x in out["rows"]]
    assert got == [
        (1, 201, None),
        (2, 409, "uq_market_flow_one_in_flight"),
        (3, 422, "invalid_input"),
        (4, 422, "point_not_switchable"),
    ]
    assert out["rows"][2]["field"] == "phone"


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_csv_upload_in_utf8_or_shift_jis(registered: World, encoding: str) -> None:
    w = registered
    base = {
        # full-width digits, grouped as printed on a bill
        "supply_point_id": "０３１２ ３４５６ ７８９０ １２３４ ５６７８ ９０",
        "name": "山田 花子",
        "name_kana": "やまだ はなこ",
        "postal_code": "100-0001",
        "prefecture": "東京都",
        "address": "千代田区千代田1-1",
        "phone": "03-1234-5678",
        "new_contract_number": "CM-010",
        "old_contract_number": "OLD-1",
        "wished_date": "",
    }
    text = _csv([base, {**base, "new_contract_number": "", "wished_date": "someday"}])
    r = w.client.post(
        "/v1/switches/csv",
        content=text.encode(encoding),
        headers={**w.headers("coop-mirai"), "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    first, second = r.json()["rows"]
    assert first["status"] == 201, (first["code"], first["field"], first["message"])
    assert first["forwarding_id"].startswith("HT")
    assert second["status"] == 422 and "line 3" in second["message"]


def test_two_retailers_filing_at_once_over_real_http(registered: World, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: the race needs concurrent transactions")
    w = registered
    app = create_app(engine=w.engine, run_sealer=False, environ={})
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        for trial in range(5):
            barrier = threading.Barrier(2)
            answers: dict[str, httpx.Response] = {}

            def post(
                party: str,
                number: str,
                barrier: threading.Barrier = barrier,
                answers: dict[str, httpx.Response] = answers,
            ) -> None:
                body = switch_body(new_contract_number=number)
                barrier.wait(timeout=10)
                answers[party] = client.post("/v1/switches", json=body, headers=w.headers(party))

            threads = [
                threading.Thread(target=post, args=(p, f"{p}-{trial}"))
                for p in ("coop-mirai", "r-other")
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            codes = sorted(a.status_code for a in answers.values())
            assert codes == [201, 409], {p: a.text for p, a in answers.items()}
            loser = next(a for a in answers.values() if a.status_code == 409).json()
            assert loser["rule"] == "uq_market_flow_one_in_flight" and loser["code"] == "conflict"
            winner, won = next((p, a) for p, a in answers.items() if a.status_code == 201)
            flow_id: Any = won.json()["flow"]["flow_id"]
            r = client.post(f"/v1/flows/{flow_id}/withdraw", json={}, headers=w.headers(winner))
            assert r.status_code == 200, r.text

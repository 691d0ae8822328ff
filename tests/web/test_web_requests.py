"""The rights pages over HTTP (TestClient, https; SQLite and PostgreSQL): "my requests" (CSRF on
every form, bad input a 422 naming the field, another customer's request unknown — 404, on the
ledger — the download served with its type), "my points and contracts" (through the gate's
subject door, on the ledger), the controller's correction requests in the console (refused with
reasons, told to the customer; another party gets 404, on the ledger), the holders' stop-use
confirmations, and the retailer's CSV filings (a result per row)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from jointuse.assembly import default_gate
from jointuse.ledger.service import find_entries
from jointuse.rights import requests_service
from web_switches import B, point_b_with_r_new, switch_csv
from web_world import EMAIL, A, Site

OTHER = "other@example.jp"


def _client(site: Site) -> TestClient:
    return TestClient(site.app, base_url="https://testserver")  # type: ignore[arg-type]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _code(site: Site, email: str) -> str:
    found = re.search(r"(\d{6})", site.sink.to(email)[-1].body)
    assert found is not None
    return found.group(1)


def _enrol(client: TestClient, site: Site, email: str = EMAIL) -> None:
    page = client.get("/my/enrol")
    r = client.post(
        "/my/enrol",
        data={
            "csrf": _csrf(page.text),
            "contract_number": "OLD-1",
            "supply_point_id": A,
            "postal_code": "100-0001",
            "email": email,
        },
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/my/enrol/confirm",
        data={"csrf": _csrf(r.text), "email": email, "code": _code(site, email)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def _console(client: TestClient, token: str) -> None:
    page = client.get("/console/sign-in")
    r = client.post(
        "/console/sign-in",
        data={"csrf": _csrf(page.text), "token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def _ask(client: TestClient, kind: str, **fields: str) -> str:
    page = client.get("/my/requests")
    assert page.status_code == 200, page.text
    r = client.post(
        f"/my/requests/{kind}", data={"csrf": _csrf(page.text), **fields}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/my/requests/([0-9a-f-]{36})\?made=1", r.headers["location"])
    assert found is not None, r.headers["location"]
    return found.group(1)


def _prepare(site: Site) -> None:
    mailer = site.app.state.mailer  # type: ignore[attr-defined]
    requests_service.process_disclosures(site.engine, default_gate(), mailer, at=datetime.now(UTC))


def test_request_forms_need_the_sessions_token_and_change_nothing_without_it(site: Site) -> None:
    with _client(site) as client:
        _enrol(client, site)
        for kind, fields in (
            ("disclosure", {"format": "json"}),
            ("correction", {"item": "basic:phone", "value": "090-1111-2222"}),
            ("stop-use", {"ground": "art35_5_no_longer_needed", "action": "stop_use"}),
        ):
            r = client.post(f"/my/requests/{kind}", data={"csrf": "x" * 43, **fields})
            assert r.status_code == 403, (kind, r.text)
            r = client.post(f"/my/requests/{kind}", data=fields)
            assert r.status_code == 403, (kind, r.text)
        page = client.get("/my/requests")
        assert page.status_code == 200 and 'id="requests"' not in page.text
    with site.engine.connect() as conn:
        received = [e for e in find_entries(conn) if (e.entry.rule_id or "").endswith(":receive")]
    assert received == []


def test_another_customers_request_is_unknown_and_the_refusal_is_on_the_ledger(
    site: Site,
) -> None:
    with _client(site) as first:
        _enrol(first, site)
        mine = _ask(first, "disclosure", format="csv")
        assert first.get(f"/my/requests/{mine}").status_code == 200
    _prepare(site)
    with _client(site) as second:
        _enrol(second, site, OTHER)  # the same bill, another account
        for path in (f"/my/requests/{mine}", f"/my/requests/{mine}/download"):
            r = second.get(path)
            assert r.status_code == 404, (path, r.text)
            assert "山田" not in r.text and A not in r.text
        assert second.get("/my/requests/not-a-request").status_code == 404
    with site.engine.connect() as conn:
        refused = [
            e.entry
            for e in find_entries(conn)
            if e.entry.purpose == "subject:request" and e.entry.decision == "denied"
        ]
    assert len(refused) == 3
    assert {r.items_refused[0].reason for r in refused} == {"rights_request_unknown"}
    assert all(r.party.startswith("customer:") for r in refused)


def test_a_disclosure_is_downloaded_with_its_type_once_ready(site: Site) -> None:
    with _client(site) as client:
        _enrol(client, site)
        asked = {fmt: _ask(client, "disclosure", format=fmt) for fmt in ("json", "csv", "pdf")}
        early = client.get(f"/my/requests/{asked['pdf']}/download")
        assert early.status_code == 409 and "received" in early.text
        listing = client.get("/my/requests").text
        assert listing.count("受付済み（準備中）") == 3 and "/download" not in listing
        _prepare(site)
        listing = client.get("/my/requests").text
        assert listing.count("/download") == 3
        types = {"json": "application/json", "csv": "text/csv", "pdf": "application/pdf"}
        for fmt, rights_id in asked.items():
            r = client.get(f"/my/requests/{rights_id}/download")
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith(types[fmt])
            assert r.headers["content-disposition"] == (
                f'attachment; filename="disclosure-{rights_id}.{fmt}"'
            )
            assert r.headers["cache-control"] == "no-store"
            if fmt != "pdf":
                assert A in r.content.decode("utf-8-sig") and "山田" in r.content.decode()
            else:
                assert r.content.startswith(b"%PDF")
    with site.engine.connect() as conn:
        downloads = [
            e for e in find_entries(conn) if e.entry.rule_id == "subject:disclosure:download"
        ]
    assert len(downloads) == 3


def test_bad_input_is_a_clear_4xx_naming_the_field_and_nothing_is_asked(site: Site) -> None:
    with _client(site) as client:
        _enrol(client, site)
        page = client.get("/my/requests")
        csrf = _csrf(page.text)
        for kind, fields, field in (
            ("disclosure", {"format": "docx"}, "format"),
            ("correction", {"item": "basic:email", "value": "x"}, "item"),
            ("correction", {"item": "basic:phone", "value": "not a phone"}, "phone"),
            ("stop-use", {"ground": "dislike", "action": "stop_use"}, "ground"),
        ):
            r = client.post(f"/my/requests/{kind}", data={"csrf": csrf, **fields})
            assert r.status_code == 422, (kind, r.text)
            assert 'id="form-error"' in r.text and field in r.text
        assert 'id="requests"' not in client.get("/my/requests").text


def test_a_stop_use_request_goes_to_every_holder_and_completes_when_all_confirm(
    site: Site,
) -> None:
    with _client(site) as client:
        _enrol(client, site)
        rights_id = _ask(
            client,
            "stop-use",
            ground="art35_5_no_longer_needed",
            action="erasure",
            reason="引っ越しました",
        )
        page = client.get(f"/my/requests/{rights_id}").text
        assert "各事業者に依頼中" in page and "消去" in page
        assert "利用する必要がなくなった場合" in page
        holders = re.findall(r"<tr><td>([^<]+)</td><td>保有事業者</td>", page)
        assert "みらい電力" in holders and len(holders) >= 2
    # The holders see it listed (as over the API) and each confirms in its console.
    with _client(site) as api:
        seen = api.get(
            "/v1/rights-requests", params={"kind": "stop_use"}, headers=_bearer(site.retailer_token)
        ).json()["requests"]
        assert [r["id"] for r in seen] == [rights_id]
        view = api.get(f"/v1/rights-requests/{rights_id}", headers=_bearer(site.retailer_token))
        parties = [p["party"] for p in view.json()["parties"]]
    assert set(parties) <= {"r-old", "tso-03", "r-new"}
    tokens = {"r-old": site.retailer_token, "tso-03": site.tso_token}
    for n, code in enumerate(parties):
        with _client(site) as console:
            _console(console, tokens.get(code) or _token(site, code))
            listing = console.get("/console/stop-use")
            assert rights_id in listing.text and A not in listing.text
            one = console.get(f"/console/stop-use/{rights_id}")
            assert one.status_code == 200 and "消去" in one.text and "引っ越しました" in one.text
            r = console.post(
                f"/console/stop-use/{rights_id}/confirmation",
                data={"csrf": "x" * 43, "note": "消去しました"},
            )
            assert r.status_code == 403
            r = console.post(
                f"/console/stop-use/{rights_id}/confirmation",
                data={"csrf": _csrf(one.text), "note": "消去しました"},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            done = console.get(f"/console/stop-use/{rights_id}").text
            assert "対応済み" in done
            last = n == len(parties) - 1
            assert ("完了" if last else "各事業者に依頼中") in done
    with _client(site) as client:
        _enrol(client, site)
        page = client.get(f"/my/requests/{rights_id}").text
        assert "すべての事業者が対応しました" in page and page.count("対応済み") == len(parties)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(site: Site, code: str) -> str:
    from jointuse.parties import service as parties

    return parties.issue_token(site.engine, code).secret


def test_my_contracts_within_my_tenure_through_the_gate(site: Site) -> None:
    with _client(site) as client:
        assert client.get("/my/contracts").status_code == 401
        _enrol(client, site)
        r = client.get("/my/contracts")
        assert r.status_code == 200, r.text
        assert A in r.text and "みらい電力" in r.text and "OLD-1" in r.text
        assert "2024-01-01" in r.text and "契約中" in r.text
        assert "NEW-1" not in r.text  # the switch is filed, not completed: no contract yet
        assert "lv_metered_lighting_b" in r.text  # the point's items, through the gate
    with site.engine.connect() as conn:
        reads = [
            e.entry
            for e in find_entries(conn, supply_point_id=A)
            if e.entry.purpose == "subject:contracts"
        ]
    assert len(reads) == 1 and reads[0].decision == "allowed"
    assert "current_limit" in reads[0].items_granted


def test_a_controller_refuses_a_correction_with_reasons_in_the_console(site: Site) -> None:
    with _client(site) as customer:
        _enrol(customer, site)
        rights_id = _ask(
            customer, "correction", item="basic:phone", value="090-3333-4444", reason="番号変更"
        )
        seen = customer.get(f"/my/requests/{rights_id}").text
        assert "管理責任者に回付済み" in seen and "みらい電力" in seen
    with _client(site) as tso:
        _console(tso, site.tso_token)
        assert rights_id not in tso.get("/console/corrections").text
        r = tso.get(f"/console/corrections/{rights_id}")
        assert r.status_code == 404 and "09033334444" not in r.text
        page = tso.get("/console/corrections")
        r = tso.post(
            f"/console/corrections/{rights_id}/refusal",
            data={"csrf": _csrf(page.text), "reasons": "not ours"},
        )
        assert r.status_code == 404
    with _client(site) as retailer:
        _console(retailer, site.retailer_token)
        listing = retailer.get("/console/corrections")
        assert listing.status_code == 200 and rights_id in listing.text
        assert "09033334444" not in listing.text  # the list holds no personal data
        one = retailer.get(f"/console/corrections/{rights_id}")
        assert one.status_code == 200 and "09033334444" in one.text and "番号変更" in one.text
        csrf = _csrf(one.text)
        r = retailer.post(f"/console/corrections/{rights_id}/refusal", data={"csrf": "x" * 43})
        assert r.status_code == 403
        r = retailer.post(f"/console/corrections/{rights_id}/refusal", data={"csrf": csrf})
        assert r.status_code == 422 and "reasons" in r.text
        r = retailer.post(
            f"/console/corrections/{rights_id}/refusal",
            data={"csrf": csrf, "reasons": "ご本人確認ができませんでした\n書面でお申し出ください"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        again = retailer.post(f"/console/corrections/{rights_id}/acceptance", data={"csrf": csrf})
        assert again.status_code == 409
    told = site.sink.to(EMAIL)[-1]
    assert "ご本人確認ができませんでした" in told.body
    with _client(site) as customer:
        _enrol(customer, site)
        page = customer.get(f"/my/requests/{rights_id}").text
        assert "訂正しませんでした" in page and "書面でお申し出ください" in page
        assert "応じられませんでした" in customer.get("/my/requests").text
    with site.engine.connect() as conn:
        entries = [e.entry for e in find_entries(conn, supply_point_id=A)]
        refused = [e for e in find_entries(conn) if e.entry.party == "tso-03"]
    # the controller's read of the correction: a decision of the gate (its P1 rule)
    assert any(
        e.party == "r-old" and e.action == "read" and e.rule_id == "P1-retailer" for e in entries
    )
    assert any(e.party == "r-old" and e.rule_id == "subject:correction:refuse" for e in entries)
    tso_denied = [e.entry for e in refused if e.entry.decision == "denied"]
    assert len(tso_denied) == 2  # the read and the refusal, each on the ledger
    assert any(e.party == "r-old" and e.decision == "denied" for e in entries)  # the 409


def test_a_retailer_files_switches_from_a_csv_file_with_a_result_per_row(site: Site) -> None:
    point_b_with_r_new(site)
    with _client(site) as retailer:
        _console(retailer, site.retailer_token)
        page = retailer.get("/console/filings/csv")
        assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
        csrf = _csrf(page.text)
        files = {"file": ("switches.csv", switch_csv("cp932"), "text/csv")}
        r = retailer.post("/console/filings/csv", data={"csrf": "x" * 43}, files=files)
        assert r.status_code == 403
        r = retailer.post(
            "/console/filings/csv",
            data={"csrf": csrf},
            files={"file": ("empty.csv", b"", "text/csv")},
        )
        assert r.status_code == 422 and "file" in r.text
        r = retailer.post("/console/filings/csv", data={"csrf": csrf}, files=files)
        assert r.status_code == 200, r.text
        assert 'id="filed">1<' in r.text and 'id="refused">2<' in r.text
        rows = re.findall(r"<tr><td>(\d)</td>\s*<td class=\"decision-(\w+)\">", r.text)
        assert rows == [("1", "allowed"), ("2", "denied"), ("3", "denied")]
        assert "[phone]" in r.text and "line 4" in r.text
        flow_id = re.search(r'href="/console/flows/([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
        flow = retailer.get(f"/console/flows/{flow_id}")
        assert flow.status_code == 200 and ">switch<" in flow.text
    with _client(site) as tso:
        _console(tso, site.tso_token)
        assert tso.get("/console/filings/csv").status_code == 422  # a retailer's page
    with site.engine.connect() as conn:
        filed = [
            e.entry
            for e in find_entries(conn, supply_point_id=B)
            if e.entry.party == "r-old" and e.entry.action == "write"
        ]
        tso_refused = [
            e.entry
            for e in find_entries(conn)
            if e.entry.party == "tso-03" and e.entry.decision == "denied"
        ]
    assert filed and filed[0].decision == "allowed"
    assert tso_refused


@pytest.mark.parametrize(
    "path",
    [
        "/my/requests",
        "/my/requests/00000000-0000-0000-0000-000000000000",
        "/my/requests/00000000-0000-0000-0000-000000000000/download",
        "/my/contracts",
        "/console/corrections",
        "/console/stop-use",
        "/console/filings/csv",
    ],
)
def test_the_new_pages_need_a_session(site: Site, path: str) -> None:
    with _client(site) as client:
        r = client.get(path)
        assert r.status_code == 401 and "<h1>" in r.text


def test_a_customer_session_does_not_open_the_console_nor_a_party_the_portal(site: Site) -> None:
    with _client(site) as customer:
        _enrol(customer, site)
        assert customer.get("/console/corrections").status_code == 401
    with _client(site) as retailer:
        _console(retailer, site.retailer_token)
        assert retailer.get("/my/requests").status_code == 401
        assert retailer.get("/my/contracts").status_code == 401

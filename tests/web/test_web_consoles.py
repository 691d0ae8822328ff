"""The consoles of issue 11 over HTTP (TestClient, https; SQLite and PostgreSQL): who may open
the auditor's, the DR contractor's and the administrator's pages — every refusal on the ledger —
and that each reading is on the ledger as the same reading by the CLI or the API is."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from console_world import night_reads, settled_dr, user_token
from jointuse.core.calendar import JST
from jointuse.core.errors import JointuseError
from jointuse.flows import steps
from jointuse.flows.common import DEFAULT_SETTINGS, jst_day
from jointuse.flows.repository import get_flow
from jointuse.ledger.service import find_entries
from jointuse.parties import service as parties
from jointuse.web.slot_chart import slot_chart, slot_time
from web_world import A, Site, matched


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _signed_in(site: Site, token: str) -> tuple[TestClient, str]:
    client = TestClient(site.app, base_url="https://testserver")  # type: ignore[arg-type]
    page = client.get("/console/sign-in")
    r = client.post(
        "/console/sign-in",
        data={"csrf": _csrf(page.text), "token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    home = client.get("/console", follow_redirects=True)
    return client, _csrf(home.text)


def _denied(site: Site, party: str, purpose: str) -> list[object]:
    with site.engine.connect() as conn:
        return [
            e.entry
            for e in find_entries(conn)
            if e.entry.party == party
            and e.entry.purpose == purpose
            and e.entry.decision == "denied"
        ]


def _admin_entries(site: Site, decision: str) -> list[object]:
    """r-old's administrative entries with ``decision``, oldest first."""
    with site.engine.connect() as conn:
        found = [
            e.entry
            for e in find_entries(conn)
            if e.entry.party == "r-old"
            and e.entry.purpose == "admin:party"
            and e.entry.decision == decision
        ]
    return sorted(found, key=lambda e: e.recorded_at)  # type: ignore[attr-defined]


def test_an_operator_is_refused_the_auditors_pages_and_each_refusal_is_on_the_ledger(
    site: Site,
) -> None:
    token = user_token(site, "r-old", "op", "operator")
    client, csrf = _signed_in(site, token)
    with client:
        assert client.get("/console/audit").status_code == 403
        assert client.get("/console/audit/anomalies").status_code == 403
        r = client.post(
            "/console/audit/incident",
            data={"csrf": csrf, "party": "r-old", "since": "2024-01-01", "until": "2026-12-31"},
        )
        assert r.status_code == 403 and "access_denied" in r.text
        r = client.post("/console/audit", data={"csrf": csrf, "point": A})
        assert r.status_code == 403
    for purpose in ("audit:ledger_show", "audit:anomalies", "audit:incident_scope"):
        refused = _denied(site, "r-old", purpose)
        assert refused, purpose
        assert all(e.acting_user == "op" for e in refused)  # type: ignore[attr-defined]
        reasons = {r.reason for e in refused for r in e.items_refused}  # type: ignore[attr-defined]
        assert reasons == {"role_not_permitted"}, purpose
    with site.engine.connect() as conn:  # nothing was read: no reading recorded as allowed
        assert not [
            e
            for e in find_entries(conn)
            if e.entry.purpose.startswith("audit:") and e.entry.decision == "allowed"
        ]


def test_a_partys_auditor_searches_its_own_entries_and_the_search_is_on_the_ledger(
    site: Site,
) -> None:
    token = user_token(site, "r-old", "aud", "auditor")
    client, csrf = _signed_in(site, token)
    with client:
        r = client.post("/console/audit", data={"csrf": csrf, "point": A})
        assert r.status_code == 200, r.text
        rows = re.findall(r"<tr><td>(\d+)</td><td>[^<]*</td><td>([^<]*)</td>", r.text)
        assert rows and {party for _seq, party in rows} == {"r-old"}  # never tso-03's
        assert A not in str(r.url)  # the point stays out of the URL (a POST)
        r = client.post("/console/audit", data={"csrf": csrf, "party": "tso-03"})
        assert r.status_code == 422 and "tso-03" in r.text
        r = client.post("/console/audit", data={"csrf": csrf, "since": "yesterday"})
        assert r.status_code == 422 and 'id="form-error"' in r.text
    with site.engine.connect() as conn:
        readings = [
            e.entry
            for e in find_entries(conn, supply_point_id=A)
            if e.entry.purpose == "audit:ledger_show"
        ]
    assert readings and readings[0].party == "r-old" and readings[0].acting_user == "aud"
    assert _denied(site, "r-old", "audit:ledger_show")  # the refused searches too


def test_a_partys_auditor_scopes_only_its_own_credentials(site: Site) -> None:
    token = user_token(site, "r-old", "aud", "auditor")
    tso_token_id = site.tso_token.removeprefix("ju_").split(".", 1)[0]
    client, csrf = _signed_in(site, token)
    window = {"since": "2020-01-01", "until": datetime.now(UTC).date().isoformat()}
    with client:
        r = client.post(
            "/console/audit/incident", data={"csrf": csrf, "token": tso_token_id, **window}
        )
        assert r.status_code == 404, r.text
        r = client.post("/console/audit/incident", data={"csrf": csrf, "party": "r-old", **window})
        assert r.status_code == 200, r.text
        assert 'id="people-count">1<' in r.text  # A's occupant, by point
        assert A in r.text
    assert _denied(site, "r-old", "audit:incident_scope")
    with site.engine.connect() as conn:
        scoped = [e.entry for e in find_entries(conn) if e.entry.purpose == "audit:incident_scope"]
    assert any(e.decision == "allowed" and e.acting_user == "aud" for e in scoped)


def test_the_anomaly_report_names_a_person_reading_at_night(site: Site) -> None:
    night_reads(site, "r-old", "op")
    client, _csrf_token = _signed_in(site, user_token(site, "r-old", "aud", "auditor"))
    with client:
        r = client.get("/console/audit/anomalies")
    assert r.status_code == 200, r.text
    assert "夜間の参照" in r.text and "<td>op</td>" in r.text
    with site.engine.connect() as conn:
        made = [e.entry for e in find_entries(conn) if e.entry.purpose == "audit:anomalies"]
    assert made and made[-1].party == "r-old" and made[-1].acting_user == "aud"


def test_a_non_administrator_is_refused_the_administration_and_changes_nothing(
    site: Site,
) -> None:
    client, csrf = _signed_in(site, user_token(site, "r-old", "aud", "auditor"))
    with client:
        assert client.get("/console/admin").status_code == 403
        r = client.post(
            "/console/admin/users",
            data={"csrf": csrf, "code": "intruder", "name": "X", "role": "operator"},
        )
        assert r.status_code == 403
        r = client.post("/console/admin/tokens", data={"csrf": csrf, "user": "aud"})
        assert r.status_code == 403 and "ju_" not in r.text
    assert "intruder" not in {u.code for u in parties.list_users(site.engine, "r-old")}
    refused = _denied(site, "r-old", "admin:party")
    assert len(refused) == 3 and {e.action for e in refused} == {"read", "write"}  # type: ignore[attr-defined]


def test_an_administrator_manages_users_and_tokens_of_its_own_party_only(site: Site) -> None:
    client, csrf = _signed_in(site, user_token(site, "r-old", "adm", "administrator"))
    with client:
        r = client.post(
            "/console/admin/users",
            data={"csrf": csrf, "code": "Field.1", "name": "現場 一郎", "role": "field_staff"},
        )
        assert r.status_code == 200 and "field.1" in r.text
        r = client.post(
            "/console/admin/users",
            data={"csrf": csrf, "code": "field.1", "name": "again", "role": "operator"},
        )
        assert r.status_code == 409, r.text
        r = client.post("/console/admin/tokens", data={"csrf": csrf, "user": "field.1"})
        secret = re.search(r'id="secret">(ju_[^<]+)<', r.text)
        assert r.status_code == 200 and secret is not None
        token_id = secret.group(1).removeprefix("ju_").split(".", 1)[0]
        assert client.get("/console/admin").text.count(secret.group(1)) == 0  # shown once
        other = site.tso_token.removeprefix("ju_").split(".", 1)[0]
        r = client.post(f"/console/admin/tokens/{other}/revocation", data={"csrf": csrf})
        assert r.status_code == 404  # another party's token
        r = client.post(f"/console/admin/tokens/{token_id}/revocation", data={"csrf": csrf})
        assert r.status_code == 200
        r = client.post("/console/admin/users/field.1/deactivation", data={"csrf": csrf})
        assert r.status_code == 200
    with pytest.raises(JointuseError), site.engine.connect() as conn:
        parties.authenticate(
            conn, bearer=secret.group(1), client_cert_fingerprint=None, at=datetime.now(UTC)
        )
    # the other party's token still works
    with site.engine.connect() as conn:
        assert (
            parties.authenticate(
                conn, bearer=site.tso_token, client_cert_fingerprint=None, at=datetime.now(UTC)
            ).code
            == "tso-03"
        )
    users = {u.code: u for u in parties.list_users(site.engine, "r-old")}
    assert users["field.1"].role == "field_staff" and users["field.1"].deactivated_at is not None
    # each change is on the ledger, by the administrator; the refused ones as refused
    changes = _admin_entries(site, "allowed")
    assert [e.rule_id for e in changes] == [  # type: ignore[attr-defined]
        "admin:user_added field.1",
        f"admin:token_issued {token_id}",
        f"admin:token_revoked {token_id}",
        "admin:user_deactivated field.1",
    ]
    assert {e.acting_user for e in changes} == {"adm"}  # type: ignore[attr-defined]
    assert {e.action for e in changes} == {"write"}  # type: ignore[attr-defined]
    assert len(_admin_entries(site, "denied")) == 2  # the duplicate user, the other's token


def test_an_administrator_registers_and_removes_the_webhook_its_secret_shown_once(
    site: Site,
) -> None:
    client, csrf = _signed_in(site, user_token(site, "r-old", "adm", "administrator"))
    with client:
        r = client.post(
            "/console/admin/webhook", data={"csrf": csrf, "url": "http://hooks.example/x"}
        )
        assert r.status_code == 422  # https only here
        r = client.post(
            "/console/admin/webhook", data={"csrf": csrf, "url": "https://hooks.example/x"}
        )
        assert r.status_code == 200 and re.search(r'id="secret">whsec_', r.text)
        page = client.get("/console/admin").text
        assert "https://hooks.example/x" in page and "whsec_" not in page
        r = client.post("/console/admin/webhook/removal", data={"csrf": csrf})
        assert r.status_code == 200 and 'id="no-webhook"' in r.text
    assert [e.rule_id for e in _admin_entries(site, "allowed")] == [  # type: ignore[attr-defined]
        "admin:webhook_registered webhook",
        "admin:webhook_removed webhook",
    ]


def test_a_deactivated_users_console_session_ends(site: Site) -> None:
    client, _ = _signed_in(site, user_token(site, "r-old", "aud", "auditor"))
    with client:
        assert client.get("/console/audit").status_code == 200
        parties.deactivate_user(site.engine, "r-old", "aud")
        assert client.get("/console/audit").status_code == 401


def test_the_dr_settlement_page_reads_each_point_through_the_gate(site: Site) -> None:
    settled = settled_dr(site)
    client, _ = _signed_in(site, settled.token)
    with client:
        r = client.get("/console/dr")
        assert r.status_code == 200 and settled.agreement_id in r.text and "同意済み" in r.text
        r = client.get(f"/console/dr/settlements/{settled.run_id}")
        assert r.status_code == 200, r.text
        assert r.text.count("<polyline") == 2 and "13:00" in r.text
        assert client.get("/console/dr/settlements/nope").status_code == 404
    with site.engine.connect() as conn:
        reads = [
            e.entry
            for e in find_entries(conn, supply_point_id=A)
            if e.entry.party == "dr-web" and e.entry.purpose == "P5_negawatt"
        ]
    assert any(
        e.action == "read" and e.decision == "allowed" and "baseline" in e.items_granted
        for e in reads
    )
    # an auditor of the contractor reaches no results
    client, _ = _signed_in(site, user_token(site, "dr-web", "dr-aud", "auditor"))
    with client:
        assert client.get(f"/console/dr/settlements/{settled.run_id}").status_code == 403
    assert _denied(site, "dr-web", "P5_negawatt")


def test_the_slot_chart_draws_both_series_and_the_event_window() -> None:
    base = ["1.0"] * 48
    actual: list[str | None] = ["1.0"] * 26 + ["0.5"] * 8 + [None] * 14
    chart = slot_chart(base, actual, 27, 34)
    assert chart is not None and chart.slots == 48 and chart.peak == 1.0
    assert len(chart.baseline.split()) == 48 and len(chart.actual.split()) == 34
    x, width = chart.window
    step = (720 - 52 - 8) / 48
    assert x == pytest.approx(52 + 26 * step) and width == pytest.approx(8 * step)
    assert slot_chart([None] * 48, None, 1, 2) is None
    assert slot_time(27) == "13:00" and slot_time(1) == "00:00"


def test_a_listed_auditor_searches_and_scopes_the_whole_ledger(site: Site) -> None:
    """occto is in JOINTUSE_WEB_AUDITORS (the world's app): its system client's console reads
    every party's entries and scopes any party's token; its readings are recorded as occto's."""
    client, csrf = _signed_in(site, site.auditor_token)
    tso_token_id = site.tso_token.removeprefix("ju_").split(".", 1)[0]
    with client:
        r = client.post("/console/audit", data={"csrf": csrf, "point": A})
        assert r.status_code == 200, r.text
        rows = re.findall(r"<tr><td>(\d+)</td><td>[^<]*</td><td>([^<]*)</td>", r.text)
        assert {"tso-03", "r-old"} <= {party for _seq, party in rows}
        r = client.post(
            "/console/audit/incident",
            data={
                "csrf": csrf,
                "token": tso_token_id,
                "since": "2020-01-01",
                "until": datetime.now(UTC).date().isoformat(),
            },
        )
        assert r.status_code == 200, r.text
        assert "tso-03" in r.text
        assert client.get("/console/audit/anomalies").status_code == 403  # a party's auditors'
    with site.engine.connect() as conn:
        readings = [e.entry for e in find_entries(conn) if e.entry.purpose.startswith("audit:")]
    allowed = {(e.purpose, e.party, e.acting_user) for e in readings if e.decision == "allowed"}
    assert ("audit:ledger_show", "occto", "occto:client") in allowed
    assert ("audit:incident_scope", "occto", "occto:client") in allowed


def test_a_tso_fixes_the_date_of_a_matched_switch_and_an_earlier_date_changes_nothing(
    site: Site,
) -> None:
    client, csrf = _signed_in(site, site.tso_token)
    with client:
        before = client.get("/console/dates")
        assert before.status_code == 200 and site.flow_id not in before.text  # not matched yet
        matched(site)
        page = client.get("/console/dates")
        assert page.status_code == 200
        with site.engine.connect() as conn:
            flow = get_flow(conn, site.flow_id)
            assert flow is not None and flow.state.value == "matched"
            today = jst_day(datetime.now(UTC))
            proposed = steps.proposed_date(conn, flow, today, DEFAULT_SETTINGS)
        assert proposed > today
        row = re.search(rf'<tr id="flow-{site.flow_id}">(.*?)</tr>', page.text, re.S)
        assert row is not None and proposed.isoformat() in row.group(1)
        # a date before the earliest is refused, naming the earliest; nothing changes
        early = client.post(
            f"/console/dates/{site.flow_id}",
            data={"csrf": csrf, "date": (proposed - timedelta(days=1)).isoformat()},
        )
        assert early.status_code == 422 and proposed.isoformat() in early.text
        bad = client.post(
            f"/console/dates/{site.flow_id}", data={"csrf": csrf, "date": "2026-13-40"}
        )
        assert bad.status_code == 422 and "is not a date" in bad.text
        with site.engine.connect() as conn:
            still = get_flow(conn, site.flow_id)
            assert still is not None and still.state.value == "matched"
        # empty: the proposed date
        fixed = client.post(
            f"/console/dates/{site.flow_id}",
            data={"csrf": csrf, "date": ""},
            follow_redirects=False,
        )
        assert fixed.status_code == 303
        assert fixed.headers["location"] == f"/console/flows/{site.flow_id}"
        view = client.get(fixed.headers["location"])
        assert 'id="state">date_fixed<' in view.text and proposed.isoformat() in view.text
        assert site.flow_id not in client.get("/console/dates").text  # no longer waiting
    with site.engine.connect() as conn:
        written = [
            e.entry
            for e in find_entries(conn, supply_point_id=A)
            if e.entry.party == "tso-03" and e.entry.purpose == "P1_wheeling"
        ]
    assert [(e.action, e.decision) for e in written][-1:] == [("write", "allowed")]
    assert "wheeling_change_date" in written[-1].items_granted


def test_a_retailer_is_refused_the_dates_page_and_cannot_fix_a_date(site: Site) -> None:
    matched(site)
    client, csrf = _signed_in(site, site.retailer_token)
    with client:
        assert client.get("/console/dates").status_code == 422
        r = client.post(f"/console/dates/{site.flow_id}", data={"csrf": csrf, "date": ""})
        assert r.status_code == 422
    with site.engine.connect() as conn:
        flow = get_flow(conn, site.flow_id)
        assert flow is not None and flow.state.value == "matched"
    assert _denied(site, "r-old", "P1_wheeling")  # the attempted write is on the ledger


def _open_order(client: TestClient, csrf: str) -> str:
    now = datetime.now(UTC).astimezone(JST)
    r = client.post(
        "/console/work-orders",
        data={
            "csrf": csrf,
            "kind": "outage",
            "reason": "千代田区の停電調査",
            "starts_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
            "points": A,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return str(r.headers["location"]).rsplit("/", 1)[1]


def _contacts(site: Site, token: str, order_id: str) -> str:
    client, csrf = _signed_in(site, token)
    with client:
        r = client.post(f"/console/work-orders/{order_id}/contacts", data={"csrf": csrf})
        assert r.status_code == 200, r.text
        return r.text


def test_a_tso_assigns_field_staff_and_only_the_assigned_read_the_contacts(site: Site) -> None:
    kenji = user_token(site, "tso-03", "kenji", "field_staff")
    taro = user_token(site, "tso-03", "taro", "field_staff")
    user_token(site, "tso-03", "desk", "operator")
    client, csrf = _signed_in(site, site.tso_token)
    with client:
        order_id = _open_order(client, csrf)
        page = client.get(f"/console/work-orders/{order_id}").text
        candidates = re.search(r'<select id="staff-user" name="user">(.*?)</select>', page, re.S)
        assert candidates is not None
        assert re.findall(r'value="([^"]+)"', candidates.group(1)) == ["kenji", "taro"]
        r = client.post(
            f"/console/work-orders/{order_id}/staff",
            data={"csrf": csrf, "user": "kenji"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert 'id="staff-kenji"' in client.get(f"/console/work-orders/{order_id}").text
        r = client.post(  # an operator is not field staff: nothing assigned
            f"/console/work-orders/{order_id}/staff", data={"csrf": csrf, "user": "desk"}
        )
        assert r.status_code == 422 and "field staff" in r.text
    assert "山田" in _contacts(site, kenji, order_id)
    refused = _contacts(site, taro, order_id)
    assert "山田" not in refused and "access_denied" in refused
    # field staff neither see the staff section nor assign
    staff_client, staff_csrf = _signed_in(site, kenji)
    with staff_client:
        assert 'id="staff"' not in staff_client.get(f"/console/work-orders/{order_id}").text
        r = staff_client.post(
            f"/console/work-orders/{order_id}/staff", data={"csrf": staff_csrf, "user": "taro"}
        )
        assert r.status_code == 403
    with client:
        r = client.post(
            f"/console/work-orders/{order_id}/staff/kenji/removal",
            data={"csrf": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 303
    assert "山田" not in _contacts(site, kenji, order_id)  # unassigned: nothing opens
    with site.engine.connect() as conn:
        entries = [e.entry for e in find_entries(conn) if e.entry.party == "tso-03"]
    rules = [(e.rule_id, e.decision) for e in entries if e.rule_id.startswith("work_order:")]
    assert (f"work_order:assign:{order_id}:kenji", "allowed") in rules
    assert (f"work_order:unassign:{order_id}:kenji", "allowed") in rules
    assert (f"work_order:assign:{order_id}:desk", "denied") in rules
    assert (f"work_order:assign:{order_id}:taro", "denied") in rules  # by field staff
    p4 = [e for e in entries if e.purpose == "P4_tso_operations" and e.action == "read"]
    by_user = {(e.acting_user, e.decision) for e in p4 if e.supply_point_id == A}
    assert {("kenji", "allowed"), ("taro", "denied"), ("kenji", "denied")} <= by_user
    taro_reasons = {
        r.reason
        for e in p4
        if e.acting_user == "taro"  # type: ignore[attr-defined]
        for r in e.items_refused  # type: ignore[attr-defined]
    }
    assert taro_reasons == {"relation_missing"}


def _point_page(client: TestClient, csrf: str, point: str) -> str:
    r = client.post("/console/supply-points", data={"csrf": csrf, "supply_point_id": point})
    assert r.status_code == 200, r.text
    return r.text


def _item(html: str, key: str) -> str:
    found = re.search(rf'<tr id="item-{key}"><th scope="row">[^<]*</th>\s*<td>([^<]*)</td>', html)
    assert found is not None, key
    return found.group(1)


def test_a_tso_reads_and_changes_a_points_items_through_the_gate(site: Site) -> None:
    wide = A.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    client, csrf = _signed_in(site, site.tso_token)
    with client:
        assert client.get("/console/supply-points").status_code == 200
        page = _point_page(client, csrf, wide)  # full-width digits, as typed
        assert _item(page, "current_limit") == "30" and _item(page, "meter_reading_day") == "10"
        r = client.post(
            "/console/supply-points/items",
            data={
                "csrf": csrf,
                "supply_point_id": A,
                "current_limit": "４０",
                "meter_reading_day": "10",
                "contract_state": "active",
            },
        )
        assert r.status_code == 200, r.text
        assert re.search(r'id="changed"><p>[^<]*: 電流上限値</p>', r.text)
        assert _item(r.text, "current_limit") == "40"
        for bad, field in (
            ({"current_limit": "abc"}, "current_limit"),
            ({"meter_reading_day": "99"}, "meter_reading_day"),
            ({"contract_state": "gone"}, "contract_state"),
        ):
            r = client.post(
                "/console/supply-points/items",
                data={"csrf": csrf, "supply_point_id": A, **bad},
            )
            assert r.status_code == 422 and field in r.text, (bad, r.text)
        page = _point_page(client, csrf, A)  # nothing changed by the refused ones
        assert _item(page, "current_limit") == "40" and _item(page, "contract_state") == "active"
        unknown = A[:-1] + ("1" if A[-1] != "1" else "2")
        r = client.post(
            "/console/supply-points/items",
            data={"csrf": csrf, "supply_point_id": unknown, "current_limit": "30"},
        )
        assert r.status_code == 404
    with site.engine.connect() as conn:
        mine = [
            e.entry
            for e in find_entries(conn)
            if e.entry.party == "tso-03" and e.entry.purpose == "P4_tso_operations"
        ]
    writes = [e for e in mine if e.action == "write" and e.supply_point_id == A]
    writes = writes[:3]  # newest first; the fourth is the site's registration of A
    refused = [{r.reason for r in e.items_refused} for e in writes]
    assert refused == [{"failed:invalid_input"}] * 2 + [set()]  # two refused after the rule
    assert [e.decision for e in writes] == ["allowed"] * 3
    assert set(writes[2].items_granted) == {"current_limit", "meter_reading_day", "contract_state"}
    reads = [e for e in mine if e.action == "read" and e.supply_point_id == A]
    page_reads = [e for e in reads if not (e.request_id or "").startswith("history-")]
    assert len(page_reads) == 3  # looked up, shown after the change, looked up again
    assert all(set(e.items_granted) >= {"current_limit", "meter_reading_day"} for e in page_reads)
    assert [e for e in mine if e.action == "write" and e.supply_point_id == unknown]


def test_another_areas_tso_is_refused_a_points_items_on_the_ledger(site: Site) -> None:
    other = parties.issue_token(site.engine, "tso-04").secret
    client, csrf = _signed_in(site, other)
    with client:
        r = client.post("/console/supply-points", data={"csrf": csrf, "supply_point_id": A})
        assert r.status_code == 403 and "山田" not in r.text and "current_limit" not in r.text
        r = client.post(
            "/console/supply-points/items",
            data={"csrf": csrf, "supply_point_id": A, "current_limit": "60"},
        )
        assert r.status_code == 403
    assert len(_denied(site, "tso-04", "P4_tso_operations")) == 2

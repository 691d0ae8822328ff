"""The pages over HTTP (TestClient, https): security headers and cookies, CSRF on every form,
session expiry, the catalogue, and each personal-data view on the ledger (SQLite and
PostgreSQL)."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jointuse.app import create_app
from jointuse.ledger.service import find_entries
from jointuse.web.common import CSP, CSRF_COOKIE, SESSION_COOKIE
from jointuse.web.i18n import LANGUAGES, catalogue
from jointuse.webauth import service as sessions
from web_world import EMAIL, A, Site


def _client(site: Site) -> TestClient:
    return TestClient(site.app, base_url="https://testserver")  # type: ignore[arg-type]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _code(site: Site) -> str:
    found = re.search(r"(\d{6})", site.sink.to(EMAIL)[-1].body)
    assert found is not None
    return found.group(1)


def _enrol(client: TestClient, site: Site) -> None:
    page = client.get("/my/enrol")
    r = client.post(
        "/my/enrol",
        data={
            "csrf": _csrf(page.text),
            "contract_number": "OLD-1",
            "supply_point_id": "０３-1234-5678-9012-3456-7890",
            "postal_code": "100-0001",
            "email": EMAIL,
        },
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/my/enrol/confirm",
        data={"csrf": _csrf(r.text), "email": EMAIL, "code": _code(site)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/my/access-log", r.text


def test_catalogue_has_every_key_in_both_languages() -> None:
    missing = [k for k, v in catalogue().items() if set(v) != set(LANGUAGES) or not all(v.values())]
    assert missing == []
    assert catalogue()["site_name"]["ja"] != catalogue()["site_name"]["en"]


def test_pages_carry_a_strict_policy_and_secure_cookies(site: Site) -> None:
    with _client(site) as client:
        r = client.get("/my/sign-in")
        assert r.status_code == 200
        assert r.headers["content-security-policy"] == CSP
        assert "unsafe-inline" not in CSP and "script-src 'self'" in CSP
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{CSRF_COOKIE}=")
        for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
            assert flag.lower() in cookie.lower()
        # no inline script or style anywhere in the markup
        assert "<script>" not in r.text and "style=" not in r.text and "<style" not in r.text
        assert '<html lang="ja">' in r.text
        r = client.get("/lang/en?next=/my/sign-in", follow_redirects=True)
        assert '<html lang="en">' in r.text and "Customer sign-in" in r.text
        assert client.get("/lang/en?next=//evil.example").headers.get("location") in (None, "/")


def test_a_form_without_the_token_is_refused_and_changes_nothing(site: Site) -> None:
    with _client(site) as client:
        client.get("/my/sign-in")
        r = client.post("/my/sign-in", data={"csrf": "x" * 43, "email": EMAIL})
        assert r.status_code == 403 and site.sink.to(EMAIL) == []
        _enrol(client, site)
        r = client.post("/sign-out", data={"csrf": "not-the-token"})
        assert r.status_code == 403
        assert client.get("/my/access-log").status_code == 200  # still signed in


def test_customer_reads_who_used_their_data_and_the_reading_is_on_the_ledger(
    site: Site,
) -> None:
    with _client(site) as client:
        _enrol(client, site)
        session_cookie = client.cookies.get(SESSION_COOKIE)
        assert session_cookie and EMAIL not in session_cookie
        r = client.get("/my/access-log")
        assert r.status_code == 200
        assert "<svg" in r.text and "電力量の検針" in r.text and "管理責任者" in r.text
        total = int(re.search(r'id="total">(\d+)<', r.text).group(1))  # type: ignore[union-attr]
        r = client.get("/my/access-log?purpose=P1_wheeling")
        p1 = int(re.search(r'id="total">(\d+)<', r.text).group(1))  # type: ignore[union-attr]
        assert 0 < p1 < total
        r = client.get("/my/access-log?since=2999-01-01")
        assert 'id="total">0<' in r.text
        r = client.get("/my/access-log?since=not-a-date")
        assert r.status_code == 422
    with site.engine.connect() as conn:
        reads = [
            e
            for e in find_entries(conn, supply_point_id=A)
            if e.entry.purpose == "subject:access_log"
        ]
    assert len(reads) >= 3


def test_a_session_ends_when_idle_and_on_sign_out(site: Site) -> None:
    with _client(site) as client:
        _enrol(client, site)
        page = client.get("/my/access-log")
        r = client.post("/sign-out", data={"csrf": _csrf(page.text)}, follow_redirects=False)
        assert r.status_code == 303
        assert client.get("/my/access-log").status_code == 401
    later = datetime.now(UTC) + sessions.IDLE + timedelta(seconds=1)
    with _client(site) as client:
        _enrol(client, site)
        state = site.app.state
        state.jointuse = dataclasses.replace(state.jointuse, clock=lambda: later)
        r = client.get("/my/access-log")
        assert r.status_code == 401 and "もう一度ログイン" in r.text


def test_console_refusal_is_on_the_ledger(site: Site) -> None:
    with _client(site) as client:
        page = client.get("/console/sign-in")
        r = client.post(
            "/console/sign-in",
            data={"csrf": _csrf(page.text), "token": site.retailer_token},
            follow_redirects=False,
        )
        assert r.status_code == 303
        r = client.get("/console/work-orders")  # a retailer on the TSO's page
        assert r.status_code == 422
    with site.engine.connect() as conn:
        refused = [
            e
            for e in find_entries(conn)
            if e.entry.party == "r-old" and e.entry.decision == "denied"
        ]
    assert refused, "the refusal of the signed-in party is on the ledger"


def test_the_ledger_page_is_for_the_auditors_only(site: Site) -> None:
    with _client(site) as client:
        page = client.get("/console/sign-in")
        client.post("/console/sign-in", data={"csrf": _csrf(page.text), "token": site.tso_token})
        r = client.get("/console/ledger")
        assert r.status_code == 403 and "JOINTUSE_WEB_AUDITORS" in r.text
    with site.engine.connect() as conn:
        refused = [
            e.entry
            for e in find_entries(conn)
            if e.entry.party == "tso-03" and e.entry.purpose == "audit:ledger"
        ]
    assert refused and refused[0].decision == "denied"


@pytest.mark.parametrize(
    "path",
    [
        "/my/access-log",
        "/my/passkeys",
        "/console/forwardings",
        "/console/work-orders",
        "/console/audit",
        "/console/audit/anomalies",
        "/console/audit/incident",
        "/console/dr",
        "/console/admin",
    ],
)
def test_pages_need_a_session(site: Site, path: str) -> None:
    with _client(site) as client:
        r = client.get(path)
        assert r.status_code == 401 and "<h1>" in r.text


def test_the_app_mounts_the_pages_without_an_engine_of_its_own() -> None:
    assert callable(create_app)


def test_the_chart_counts_per_month_and_purpose() -> None:
    from jointuse.web.chart import chart

    at = datetime(2025, 1, 31, 16, tzinfo=UTC)  # 1 February in Japan
    drawn = chart(
        [(at, "P4"), (at, "P4"), (at + timedelta(days=60), "P1"), (at, "P1")], ["P1", "P4"]
    )
    assert drawn is not None
    assert drawn.months == ("2025-02", "2025-03", "2025-04")
    assert drawn.counts[("2025-02", "P4")] == 2 and drawn.counts[("2025-04", "P1")] == 1
    tallest = max(drawn.bars, key=lambda b: b.height)
    assert (tallest.month, tallest.purpose, tallest.count) == ("2025-02", "P4", 2)
    assert all(b.y + b.height == drawn.base for b in drawn.bars)
    assert chart([], ["P1"]) is None


def test_the_sign_in_page_offers_a_passkey_beside_the_code_without_needing_script(
    site: Site,
) -> None:
    """The passkey part is hidden until the script finds WebAuthn; the code form is plain HTML.
    The passkey endpoints answer JSON: no CSRF token, 403; an answer that is no passkey's, 401,
    recorded like a wrong code."""
    from sqlalchemy import select

    from jointuse.rights.tables import identity_event

    with _client(site) as client:
        page = client.get("/my/sign-in")
        assert re.search(r'<section id="passkey-sign-in"[^>]* hidden', page.text)
        assert '<form class="stack" method="post" action="/my/sign-in">' in page.text
        assert 'src="/web-static/passkeys.js"' in page.text
        csrf = _csrf(page.text)
        r = client.post("/my/sign-in/passkey/options", json={"csrf": "wrong"})
        assert r.status_code == 403 and r.json()["error"] == "csrf_refused"
        assert r.headers["content-security-policy"] == CSP
        r = client.post("/my/sign-in/passkey/options", content=b"not json")
        assert r.status_code == 422 and r.json()["field"] == "body"
        r = client.post("/my/sign-in/passkey/options", json={"csrf": csrf})
        assert r.status_code == 200, r.text
        options = r.json()
        assert options["rpId"] == "testserver" and len(options["challenge"]) == 43
        r = client.post(
            "/my/sign-in/passkey",
            json={"csrf": csrf, "credential": {"id": "AAAA", "rawId": "AAAA", "type": "x"}},
        )
        assert r.status_code == 401 and r.json()["error"] == "passkey_refused"
        assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    with site.engine.connect() as conn:
        outcomes = (
            conn.execute(
                select(identity_event.c.outcome).where(identity_event.c.kind == "passkey_sign_in")
            )
            .scalars()
            .all()
        )
    assert outcomes == ["malformed"]


def test_the_passkeys_page_lists_and_refuses_without_the_session_token(site: Site) -> None:
    with _client(site) as client:
        _enrol(client, site)
        page = client.get("/my/access-log")
        assert 'href="/my/passkeys"' in page.text
        r = client.get("/my/passkeys")
        assert r.status_code == 200 and 'id="no-passkeys"' in r.text
        assert re.search(r'<form id="passkey-add"[^>]* hidden', r.text)
        csrf = _csrf(r.text)
        r = client.post("/my/passkeys/options", json={"csrf": "wrong"})
        assert r.status_code == 403
        r = client.post("/my/passkeys/options", json={"csrf": csrf})
        assert r.status_code == 200, r.text
        assert r.json()["user"]["name"] == EMAIL
        assert r.json()["authenticatorSelection"]["residentKey"] == "required"
        r = client.post("/my/passkeys/add", json={"csrf": csrf, "credential": {}})
        assert r.status_code == 400 and r.json()["error"] == "passkey_not_added"
        r = client.post(
            "/my/passkeys/00000000-0000-0000-0000-000000000000/remove", data={"csrf": csrf}
        )
        assert r.status_code == 404


def test_a_passkey_added_over_http_signs_in_until_it_is_removed(site: Site) -> None:
    """The endpoints the script calls, driven by a software authenticator: add, sign out, sign
    in with the passkey alone (the cookie it sets opens the access record), remove it with the
    page's form (no script), and it signs nobody in any more."""
    from soft_authenticator import SoftAuthenticator

    key = SoftAuthenticator("testserver", "https://testserver")
    with _client(site) as client:
        _enrol(client, site)
        csrf = _csrf(client.get("/my/passkeys").text)
        options = client.post("/my/passkeys/options", json={"csrf": csrf}).json()
        r = client.post(
            "/my/passkeys/add",
            json={"csrf": csrf, "label": "ノートPC", "credential": key.create(options)},
        )
        assert r.status_code == 200 and r.json() == {"redirect": "/my/passkeys?added=1"}, r.text
        page = client.get("/my/passkeys?added=1")
        assert "ノートPC" in page.text and 'id="passkey-added"' in page.text
        passkey_id = re.search(r'action="/my/passkeys/([0-9a-f-]{36})/remove"', page.text)
        assert passkey_id is not None
        client.post("/sign-out", data={"csrf": csrf})
        assert client.get("/my/passkeys").status_code == 401

        def sign_in() -> Any:
            anonymous = _csrf(client.get("/my/sign-in").text)
            got = client.post("/my/sign-in/passkey/options", json={"csrf": anonymous}).json()
            return client.post(
                "/my/sign-in/passkey", json={"csrf": anonymous, "credential": key.get(got)}
            )

        r = sign_in()
        assert r.status_code == 200 and r.json() == {"redirect": "/my/access-log"}, r.text
        assert client.get("/my/access-log").status_code == 200
        page = client.get("/my/passkeys")
        r = client.post(
            f"/my/passkeys/{passkey_id.group(1)}/remove",
            data={"csrf": "wrong"},
            follow_redirects=False,
        )
        assert r.status_code == 403  # the session's token, as on every form
        r = client.post(
            f"/my/passkeys/{passkey_id.group(1)}/remove",
            data={"csrf": _csrf(page.text)},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/my/passkeys?removed=1"
        assert 'id="no-passkeys"' in client.get("/my/passkeys").text
        client.post("/sign-out", data={"csrf": _csrf(page.text)})
        assert sign_in().status_code == 401  # removed: refused


def test_the_relying_party_comes_from_the_configuration(site: Site) -> None:
    app = create_app(
        engine=site.engine,
        run_sealer=False,
        environ={
            "JOINTUSE_WEBAUTHN_RP_ID": "Portal.Example.jp",
            "JOINTUSE_WEBAUTHN_ORIGIN": "https://portal.example.jp/",
        },
        mailer=site.app.state.mailer,
    )
    with TestClient(app, base_url="https://testserver") as client:
        csrf = _csrf(client.get("/my/sign-in").text)
        options = client.post("/my/sign-in/passkey/options", json={"csrf": csrf}).json()
    assert options["rpId"] == "portal.example.jp"


def test_customer_consents_to_a_usage_inquiry_on_the_page_and_withdraws_it(site: Site) -> None:
    with _client(site) as client:
        _enrol(client, site)
        page = client.get("/my/consents")
        assert page.status_code == 200 and "使用量情報照会への同意" in page.text
        bad = client.post(
            "/my/usage-consents",
            data={"csrf": "x" * 43, "supply_point_id": A, "retailer": "r-old", "valid_days": "7"},
        )
        assert bad.status_code in (400, 403)
        r = client.post(
            "/my/usage-consents",
            data={
                "csrf": _csrf(page.text),
                "supply_point_id": A,
                "retailer": "r-old",
                "valid_days": "7",
            },
        )
        assert r.status_code == 200, r.text
        shown = re.search(r'class="password" lang="en">([A-Z0-9-]+)<', r.text)
        assert shown is not None
        password = shown.group(1)
        assert password in site.sink.to(EMAIL)[-1].body  # and e-mailed
        assert password not in client.get("/my/consents").text  # shown once
        asked = client.post(
            "/v1/usage-inquiries",
            json={"supply_point_id": A, "password": password},
            headers={"Authorization": f"Bearer {site.retailer_token}"},
        )
        assert asked.status_code == 200, asked.text
        page = client.get("/my/consents")
        assert "有効" in page.text
        form = re.search(r'action="(/my/usage-consents/[^"]+/withdraw)"', page.text)
        assert form is not None
        r = client.post(form.group(1), data={"csrf": _csrf(page.text)}, follow_redirects=False)
        assert r.status_code == 303, r.text
        page = client.get("/my/consents")
        assert "撤回済み" in page.text and 'action="/my/usage-consents/' not in page.text
        again = client.post(
            "/v1/usage-inquiries",
            json={"supply_point_id": A, "password": password},
            headers={"Authorization": f"Bearer {site.retailer_token}"},
        )
        assert again.status_code == 403 and again.json()["reason"] == "consent_withdrawn"

"""The main journeys in a real browser: Debian's chromium (``/usr/bin/chromium``) driven by
Playwright, against the app served by uvicorn on a free port, with a real SMTP sink. Each page
is checked by axe-core (no serious or critical violation), and the main pages are saved as
screenshots under ``docs/screenshots/`` (shown in the README).

Skipped when ``/usr/bin/chromium`` is missing, except under CI (``.ci/run`` installs it)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console_world import user_token
from jointuse.core.calendar import JST
from jointuse.demo.live import serve
from jointuse.ledger.service import find_entries
from web_world import EMAIL, A, Site

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs /usr/bin/chromium (apt-get install -y chromium)")
    pytest.skip("no /usr/bin/chromium (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from browser_checks import axe_check as _axe  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[tuple[Page, str]]:
    with serve(site.app) as base:  # type: ignore[arg-type]
        context = browser.new_context(locale="ja-JP", viewport={"width": 1200, "height": 900})
        p = context.new_page()
        blocked: list[str] = []
        p.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
        yield p, base
        context.close()
        assert blocked == [], f"the page broke its own CSP: {blocked}"


def _shot(page: Page, name: str, backend: str) -> None:
    if backend == "sqlite":  # one set of screenshots
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _code(site: Site) -> str:
    found = re.search(r"(\d{6})", site.sink.to(EMAIL)[-1].body)
    assert found is not None
    return found.group(1)


def _console_sign_in(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/console/sign-in")
    _axe(page)
    page.get_by_label(re.compile("APIトークン")).fill(token)
    page.get_by_role("button", name="ログイン").click()


def test_the_accessibility_check_fails_on_a_serious_violation(browser: Browser) -> None:
    """The axe check used on every page can fail: an image with no text alternative and a
    button with no name are critical violations, reported with their selectors."""
    context = browser.new_context()
    try:
        p = context.new_page()
        p.set_content(
            '<html lang="ja"><title>t</title><main><img src="a.png"><button></button></main>'
        )
        with pytest.raises(AssertionError, match="image-alt"):
            _axe(p)
        p.set_content('<html lang="ja"><title>t</title><main><img src="a.png" alt="図"></main>')
        _axe(p)
    finally:
        context.close()


def test_a_customer_signs_in_and_reads_who_used_their_data(
    page: tuple[Page, str], site: Site, backend: str
) -> None:
    p, base = page
    p.goto(base)
    _axe(p)
    _shot(p, "home", backend)
    # enrol with the bill's details (full-width digits and hyphens as typed from the bill)
    p.get_by_role("link", name="はじめての方（ご登録）").first.click()
    _axe(p)
    p.get_by_label(re.compile("契約番号")).fill("OLD-1")
    p.get_by_label(re.compile("供給地点特定番号")).fill("０３-1234-5678-9012-3456-7890")
    p.get_by_label(re.compile("郵便番号")).fill("100-0001")
    p.get_by_label("メールアドレス").fill(EMAIL)
    p.get_by_role("button", name="確認コードを送る").click()
    p.get_by_label(re.compile("確認コード")).fill(_code(site))
    p.get_by_role("button", name="確認してログイン").click()
    p.wait_for_url(f"{base}/my/access-log")
    p.get_by_role("button", name="ログアウト").click()
    # a later visit: sign in with a code sent by e-mail
    p.goto(f"{base}/my/sign-in")
    _axe(p)
    _shot(p, "customer-sign-in", backend)
    p.get_by_label(re.compile("メールアドレス")).fill(EMAIL)
    p.get_by_role("button", name="確認コードを送る").click()
    _axe(p)
    p.get_by_label(re.compile("確認コード")).fill(_code(site))
    p.get_by_role("button", name="確認してログイン").click()
    p.wait_for_url(f"{base}/my/access-log")
    assert EMAIL not in p.url
    _axe(p)
    assert p.locator("svg.chart rect").count() >= 4  # bars per month and purpose
    total = int(p.locator("#total").inner_text())
    assert total >= 5
    table = p.locator("#entries")
    assert "電力量の検針" in table.inner_text()  # the purpose, in the policy's words
    assert "検針、設備の保守" in table.inner_text()  # …explained in plain words
    _shot(p, "customer-access-log", backend)
    # filter by purpose (works without JavaScript: a GET form)
    p.get_by_label("利用目的", exact=True).select_option("P1_wheeling")
    p.get_by_role("button", name="絞り込む").click()
    assert "purpose=P1_wheeling" in p.url
    assert 0 < int(p.locator("#total").inner_text()) < total
    # in English
    p.get_by_role("link", name="English").click()
    assert p.locator("html").get_attribute("lang") == "en"
    assert "Who used my data" in p.locator("h1").inner_text()
    _axe(p)
    _shot(p, "customer-access-log-en", backend)
    with site.engine.connect() as conn:
        reads = [
            e
            for e in find_entries(conn, supply_point_id=A)
            if e.entry.purpose == "subject:access_log"
        ]
    assert len(reads) >= 4  # each view of the record is on the ledger


def test_a_retailer_judges_a_cancellation_forwarding(
    page: tuple[Page, str], site: Site, backend: str
) -> None:
    p, base = page
    _console_sign_in(p, base, site.retailer_token)
    p.wait_for_url(f"{base}/console/forwardings")
    _axe(p)
    _shot(p, "retailer-inbox", backend)
    p.get_by_role("link", name=re.compile(site.forwarding_id)).click()
    _axe(p)
    match = p.locator("#match")
    text = match.inner_text()
    assert "氏名" in text and "住所" in text
    assert "同一（表記ゆれ）" in text or "完全一致" in text  # 一丁目2番3号 = 1-2-3
    assert p.locator("#suggested").inner_text() == "OK"
    _shot(p, "retailer-forwarding-match", backend)
    p.get_by_role("button", name="自動判定のとおり回答").click()
    p.wait_for_url(re.compile(r"/console/flows/"))
    _axe(p)
    assert p.locator("#result").inner_text().startswith("ok")
    assert p.locator("#state").inner_text() != "awaiting_judgement"
    _shot(p, "retailer-flow", backend)
    with site.engine.connect() as conn:
        mine = [e.entry for e in find_entries(conn, supply_point_id=A) if e.entry.party == "r-old"]
    purposes = {(e.purpose, e.action) for e in mine}
    assert ("P2_cancellation_forwarding", "read") in purposes  # the page's read
    assert ("P2_cancellation_forwarding", "write") in purposes  # the judgement


def test_a_tso_opens_an_outage_order_and_reads_the_contacts_it_opened(
    page: tuple[Page, str], site: Site, backend: str
) -> None:
    p, base = page
    _console_sign_in(p, base, site.tso_token)
    p.wait_for_url(f"{base}/console/work-orders")
    _axe(p)
    now = datetime.now(UTC).astimezone(JST)
    p.get_by_label("作業種別").select_option("outage")
    p.get_by_label("理由").fill("千代田区の停電調査")
    p.get_by_label("開始（日時）").fill((now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    p.get_by_label(re.compile("終了（日時")).fill(
        (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    )
    p.get_by_label(re.compile("供給地点特定番号")).fill(A)
    _shot(p, "tso-work-orders", backend)
    p.get_by_role("button", name="作業指示を発行").click()
    p.wait_for_url(re.compile(r"/console/work-orders/.+"))
    order_url = p.url
    assert p.locator("html").get_attribute("lang") == "ja", p.content()[:2000]
    _axe(p)
    assert p.locator("#order-state").inner_text() == "有効"
    p.get_by_role("button", name="この作業指示で連絡先を参照").click()
    _axe(p)
    contacts = p.locator("#contacts").inner_text()
    assert "山田\u3000太郎" in contacts and "0311112222" in contacts
    assert A not in p.url  # the point stays out of the URL (a POST)
    _shot(p, "tso-contacts", backend)
    with site.engine.connect() as conn:
        reads = [
            e.entry
            for e in find_entries(conn, supply_point_id=A)
            if e.entry.party == "tso-03" and e.entry.purpose == "P4_tso_operations"
        ]
    assert any(e.decision == "allowed" and "name" in e.items_granted for e in reads)
    # the TSO assigns one of its field staff; they read the contacts the order opened
    kenji = user_token(site, "tso-03", "kenji", "field_staff")
    p.goto(order_url)
    p.get_by_label("現場作業員").select_option("kenji")
    p.get_by_role("button", name="担当者に割り当てる").click()
    p.wait_for_url(re.compile(r"/console/work-orders/.+"))
    _axe(p)
    assert "kenji" in p.locator("#staff-kenji").inner_text()
    _shot(p, "tso-work-order", backend)
    other = p.context.browser.new_context(locale="ja-JP")  # type: ignore[union-attr]
    q = other.new_page()
    _console_sign_in(q, base, kenji)
    q.wait_for_url(f"{base}/console/work-orders")
    q.goto(order_url)
    _axe(q)
    assert q.locator("#staff").count() == 0  # field staff do not assign
    q.get_by_role("button", name="この作業指示で連絡先を参照").click()
    assert "山田\u3000太郎" in q.locator("#contacts").inner_text()
    other.close()
    with site.engine.connect() as conn:
        staff_reads = [
            e.entry
            for e in find_entries(conn, supply_point_id=A)
            if e.entry.party == "tso-03" and e.entry.acting_user == "kenji"
        ]
    assert [e.decision for e in staff_reads] == ["allowed"]


def test_nothing_personal_reaches_the_server_log(
    page: tuple[Page, str], site: Site, caplog: Any
) -> None:
    p, base = page
    with caplog.at_level("DEBUG"):
        _console_sign_in(p, base, site.tso_token)
        p.goto(f"{base}/my/sign-in")
        p.get_by_label(re.compile("メールアドレス")).fill(EMAIL)
        p.get_by_role("button", name="確認コードを送る").click()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert EMAIL not in logged and site.tso_token not in logged


def test_an_auditor_verifies_the_ledger_and_reads_its_signed_checkpoints(
    page: tuple[Page, str], site: Site, backend: str
) -> None:
    p, base = page
    _console_sign_in(p, base, site.auditor_token)
    p.wait_for_url(f"{base}/console/ledger")
    _axe(p)
    assert "有効" in p.locator("#checkpoints").inner_text()  # the checkpoint's signature
    p.get_by_role("button", name="今すぐ検証").click()
    _axe(p)
    assert p.locator("#verdict").inner_text() == "問題は見つかりませんでした"
    assert int(p.locator("#verified").inner_text()) > 0
    _shot(p, "auditor-ledger", backend)


def test_a_customer_confirms_then_withdraws_a_dr_consent(
    page: tuple[Page, str], site: Site, backend: str
) -> None:
    """A DR contractor's proposal waits for the customer; they agree with the e-mailed code,
    then withdraw in one step — and the contractor's access follows each step."""
    from jointuse.core.db import UnitOfWork
    from jointuse.negawatt import service as negawatt
    from jointuse.parties import service as parties
    from jointuse.policy.engine import Party

    dr = Party("dr-web", "dr_contractor")
    parties.add_party(
        site.engine,
        code="dr-web",
        kind="dr_contractor",
        name_ja="ウェブ需要抑制",
        name_en="Web Negawatt",
        contractor_code="DR-WEB",
    )
    at = datetime.now(UTC)
    with UnitOfWork(site.engine) as u:
        agreement = negawatt.register_agreement(
            u,
            actor=dr,
            customer_id="c-old",
            supply_point_id=A,
            agreed_on=datetime(2024, 3, 1).date(),
            request_id="web-dr",
            at=at,
            scope_purposes=("P3_supply_point_confirmation",),
        )

    def opens() -> bool:
        from jointuse.access.gate import PolicyDenied
        from jointuse.access.relations import TargetRef
        from jointuse.assembly import default_gate

        try:
            with UnitOfWork(site.engine) as u:
                default_gate().read(
                    u,
                    actor=dr,
                    purpose="P3_supply_point_confirmation",
                    target=TargetRef(A),
                    items=frozenset({"supply_area"}),
                    request_id="web-dr-read",
                    at=datetime.now(UTC),
                )
            return True
        except PolicyDenied:
            return False

    assert not opens()
    p, base = page
    p.goto(f"{base}/my/enrol")
    p.get_by_label(re.compile("契約番号")).fill("OLD-1")
    p.get_by_label(re.compile("供給地点特定番号")).fill(A)
    p.get_by_label(re.compile("郵便番号")).fill("100-0001")
    p.get_by_label("メールアドレス").fill(EMAIL)
    p.get_by_role("button", name="確認コードを送る").click()
    p.get_by_label(re.compile("確認コード")).fill(_code(site))
    p.get_by_role("button", name="確認してログイン").click()
    p.wait_for_url(f"{base}/my/access-log")
    p.get_by_role("link", name="需要抑制契約への同意を確認する").click()
    p.wait_for_url(f"{base}/my/consents")
    _axe(p)
    assert "ウェブ需要抑制" in p.locator("main").inner_text()
    assert "同意待ち" in p.locator("main").inner_text()
    p.get_by_role("button", name="確認コードを再送する").click()
    assert p.locator("#sent").count() == 1
    mailed = site.sink.to(EMAIL)[-1].body
    code = next(
        line.split(":", 1)[1].strip()
        for line in mailed.splitlines()
        if line.startswith("確認コード /")
    )
    p.get_by_label("メールで届いた確認コード").fill(code)
    p.get_by_role("button", name="同意する").click()
    assert "同意済み" in p.locator("main").inner_text()
    _axe(p)
    _shot(p, "customer-consents", backend)
    assert opens()
    p.get_by_role("button", name="同意を撤回する").click()
    assert "撤回済み" in p.locator("main").inner_text()
    assert not opens()  # P3 only was agreed to: nothing stays open after the withdrawal
    assert agreement.state == "proposed"


def test_a_customer_adds_a_passkey_and_signs_in_with_it(
    page: tuple[Page, str], site: Site, backend: str
) -> None:
    """Chromium's virtual authenticator (CDP) stands in for the device: the customer enrols
    (signed in by the code), adds a passkey, signs out and signs in with the passkey alone.
    WebAuthn needs a secure context and a host name as RP ID: ``http://localhost``."""
    from sqlalchemy import select

    from jointuse.rights.tables import identity_event

    p, base = page
    base = base.replace("127.0.0.1", "localhost")
    cdp = p.context.new_cdp_session(p)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )["authenticatorId"]
    p.goto(f"{base}/my/enrol")
    p.get_by_label(re.compile("契約番号")).fill("OLD-1")
    p.get_by_label(re.compile("供給地点特定番号")).fill(A)
    p.get_by_label(re.compile("郵便番号")).fill("100-0001")
    p.get_by_label("メールアドレス").fill(EMAIL)
    p.get_by_role("button", name="確認コードを送る").click()
    p.get_by_label(re.compile("確認コード")).fill(_code(site))
    p.get_by_role("button", name="確認してログイン").click()
    p.wait_for_url(f"{base}/my/access-log")
    p.get_by_role("link", name="パスキーを管理する").click()
    p.wait_for_url(f"{base}/my/passkeys")
    _axe(p)
    assert p.locator("#passkey-needs-script").is_hidden()
    p.get_by_label(re.compile("名前")).fill("自宅のパソコン")
    p.get_by_role("button", name="パスキーを追加する").click()
    p.wait_for_url(f"{base}/my/passkeys?added=1")
    _axe(p)
    assert "自宅のパソコン" in p.locator("#passkeys").inner_text()
    _shot(p, "customer-passkeys", backend)
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(stored["credentials"]) == 1 and stored["credentials"][0]["isResidentCredential"]
    p.get_by_role("button", name="ログアウト").click()
    p.wait_for_url(f"{base}/")
    # the next visit: the passkey alone, no address typed, no code
    p.goto(f"{base}/my/sign-in")
    _axe(p)
    sent = len(site.sink.to(EMAIL))
    p.get_by_role("button", name="パスキーでログイン").click()
    p.wait_for_url(f"{base}/my/access-log")
    _axe(p)
    assert int(p.locator("#total").inner_text()) >= 5
    assert "電力量の検針" in p.locator("#entries").inner_text()
    assert len(site.sink.to(EMAIL)) == sent  # no code was sent
    p.get_by_role("link", name="パスキーを管理する").click()
    assert p.locator("#passkeys td").nth(2).inner_text() != "未使用"  # last used: now
    p.get_by_role("link", name="English").click()
    assert p.locator("h1").inner_text() == "Passkeys"
    _axe(p)
    with site.engine.connect() as conn:
        events = conn.execute(
            select(identity_event.c.kind, identity_event.c.outcome).where(
                identity_event.c.kind.like("passkey%")
            )
        ).all()
    assert [tuple(e) for e in events] == [("passkey_add", "ok"), ("passkey_sign_in", "ok")]


def test_a_customer_gives_a_usage_inquiry_password_then_withdraws_it(
    page: tuple[Page, str], site: Site
) -> None:
    """The password is shown once on the page (and e-mailed); the consent and its withdrawal in
    the browser, axe-checked at each state (no screenshot)."""
    p, base = page
    p.goto(f"{base}/my/enrol")
    p.get_by_label(re.compile("契約番号")).fill("OLD-1")
    p.get_by_label(re.compile("供給地点特定番号")).fill(A)
    p.get_by_label(re.compile("郵便番号")).fill("100-0001")
    p.get_by_label("メールアドレス").fill(EMAIL)
    p.get_by_role("button", name="確認コードを送る").click()
    p.get_by_label(re.compile("確認コード")).fill(_code(site))
    p.get_by_role("button", name="確認してログイン").click()
    p.wait_for_url(f"{base}/my/access-log")
    p.goto(f"{base}/my/consents")
    p.get_by_label("小売電気事業者").select_option("r-old")
    p.get_by_label("有効期間").select_option("1")
    p.get_by_role("button", name="同意してパスワードを発行する").click()
    password = p.locator("#issued .password").inner_text()
    assert password in site.sink.to(EMAIL)[-1].body
    _axe(p)
    assert "有効" in p.locator("#usage table").inner_text()
    p.get_by_role("button", name=re.compile("同意を撤回する")).last.click()
    assert "撤回済み" in p.locator("#usage table").inner_text()
    _axe(p)

"""The consoles of issue 11 in a real browser (Debian's chromium driven by Playwright, the app
served by uvicorn): an auditor scopes an incident and reads the anomaly report; a DR contractor
reads a settlement with its chart; an administrator adds a user, issues them a token and revokes
it. Each page is checked by axe-core (no serious or critical violation) and must not break its
own Content-Security-Policy.

Skipped when ``/usr/bin/chromium`` is missing, except under CI (``.ci/run`` installs it)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console_world import night_reads, settled_dr, user_token
from jointuse.demo.live import serve
from jointuse.flows.repository import get_flow
from jointuse.ledger.service import find_entries
from web_world import A, Site, matched

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
    """A screenshot for the README (one set: from the SQLite run)."""
    if backend == "sqlite":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _sign_in(page: Page, base: str, token: str) -> None:
    page.goto(f"{base}/console/sign-in")
    page.get_by_label(re.compile("APIトークン")).fill(token)
    page.get_by_role("button", name="ログイン").click()


def test_an_auditor_scopes_an_incident_and_reads_the_anomaly_report(
    page: tuple[Page, str], site: Site, backend: str
) -> None:
    night_reads(site, "r-old", "op")
    p, base = page
    _sign_in(p, base, user_token(site, "r-old", "aud", "auditor"))
    p.wait_for_url(f"{base}/console")
    _axe(p)
    assert "監査担当" in p.locator("main").inner_text()
    # the ledger's search: the party is fixed to the auditor's own
    p.get_by_role("link", name="台帳の検索").click()
    _axe(p)
    assert p.get_by_label("共同利用者", exact=True).input_value() == "r-old"
    p.get_by_label("供給地点", exact=True).fill(A)
    p.get_by_role("button", name="検索する").click()
    _axe(p)
    assert int(p.locator("#found").inner_text()) >= 2
    assert "tso-03" not in p.locator("#entries").inner_text()
    # incident scoping of the person who read at night
    p.goto(f"{base}/console")
    p.get_by_role("link", name="漏えい等の範囲の確認").click()
    _axe(p)
    today = datetime.now(UTC).date().isoformat()
    p.get_by_label("利用者", exact=True).fill("op")
    p.get_by_label("開始日", exact=True).fill("2024-01-01")
    p.get_by_label("終了日", exact=True).fill(today)
    p.get_by_label(re.compile("不正の目的")).check()
    p.get_by_role("button", name="範囲を確認").click()
    _axe(p)
    assert p.locator("#people-count").inner_text() == "1"
    assert p.locator("#entries-allowed").inner_text() == "2"
    assert "報告対象です" in p.locator("#reportable").inner_text()  # improper purpose
    deadlines = p.locator("#deadlines").inner_text()
    assert "60" in deadlines  # the final report within 60 days (improper purpose)
    assert A in p.locator("#notify").inner_text()
    _shot(p, "auditor-incident", backend)
    # the anomaly report of the party's people
    p.goto(f"{base}/console")
    p.get_by_role("link", name="不審なアクセスの報告").click()
    _axe(p)
    findings = p.locator("#findings").inner_text()
    assert "夜間の参照" in findings and "op" in findings
    assert int(p.locator("#anomaly-count").inner_text()) >= 1
    _shot(p, "auditor-anomalies", backend)
    # in English
    p.get_by_role("link", name="English").click()
    assert "Reads at night" in p.locator("#findings").inner_text()
    _axe(p)
    with site.engine.connect() as conn:
        readings = {
            e.entry.purpose
            for e in find_entries(conn)
            if e.entry.party == "r-old" and e.entry.acting_user == "aud"
        }
    assert {"audit:ledger_show", "audit:incident_scope", "audit:anomalies"} <= readings


def test_a_dr_contractor_reads_a_settlement_with_its_chart(
    page: tuple[Page, str], site: Site, backend: str
) -> None:
    settled = settled_dr(site)
    p, base = page
    _sign_in(p, base, settled.token)
    p.wait_for_url(f"{base}/console/dr")
    _axe(p)
    agreements = p.locator("#agreements").inner_text()
    assert settled.agreement_id in agreements and "同意済み" in agreements
    assert "BG-WEB" in p.locator("#resources").inner_text()
    p.get_by_role("link", name=settled.event_id).click()
    _axe(p)
    p.get_by_role("link", name=settled.run_id).click()
    p.wait_for_url(re.compile(r"/console/dr/settlements/"))
    _axe(p)
    chart = p.locator("svg.slot-chart")
    assert chart.count() == 1
    assert chart.locator("polyline.line-baseline").count() == 1
    assert chart.locator("polyline.line-actual").count() == 1
    assert chart.locator("rect.window").count() == 1
    assert "ベースライン" in p.locator("figcaption").inner_text()
    table = p.locator("table.slots").inner_text()
    assert "13:00" in table and "16:30" in table  # the window's slots, 27 to 34
    assert p.locator("#total").inner_text() == p.locator(".settled").inner_text()
    _shot(p, "dr-settlement", backend)
    with site.engine.connect() as conn:
        reads = [
            e.entry
            for e in find_entries(conn, supply_point_id=A)
            if e.entry.party == "dr-web"
            and e.entry.purpose == "P5_negawatt"
            and e.entry.action == "read"
            and e.entry.request_id != "web-s"  # not the settlement's own reads
        ]
    assert reads and reads[-1].decision == "allowed"


def test_an_administrator_adds_a_user_issues_a_token_and_revokes_it(
    page: tuple[Page, str], site: Site, backend: str
) -> None:
    p, base = page
    _sign_in(p, base, user_token(site, "r-old", "adm", "administrator"))
    p.wait_for_url(f"{base}/console")
    p.get_by_role("link", name="管理").click()
    p.wait_for_url(f"{base}/console/admin")
    _axe(p)
    assert "r-old" in p.locator("#parties").inner_text()
    p.get_by_label(re.compile("利用者コード")).fill("suzuki")
    p.get_by_label("氏名", exact=True).fill("鈴木 花子")
    p.get_by_label("役割").select_option("operator")
    p.get_by_role("button", name="利用者を追加").click()
    _axe(p)
    assert "suzuki" in p.locator("#users").inner_text()
    _shot(p, "admin", backend)
    p.get_by_label("発行先").select_option("suzuki")
    p.get_by_label("ラベル").fill("suzuki laptop")
    p.get_by_role("button", name="トークンを発行").click()
    _axe(p)
    secret = p.locator("#secret").inner_text()
    assert secret.startswith("ju_")
    token_id = secret.removeprefix("ju_").split(".", 1)[0]
    row = p.locator(f"#token-{token_id}")
    assert "有効" in row.locator(".token-state").inner_text()
    # the new token signs in (in another context: this one stays the administrator's)
    other = p.context.browser.new_context(locale="ja-JP")  # type: ignore[union-attr]
    q = other.new_page()
    _sign_in(q, base, secret)
    q.wait_for_url(f"{base}/console/forwardings")  # an operator of a retailer
    p.goto(f"{base}/console/admin")
    assert p.locator("#secret").count() == 0  # shown once
    p.locator(f"#token-{token_id}").get_by_role("button", name=re.compile("失効させる")).click()
    _axe(p)
    assert "失効" in p.locator(f"#token-{token_id} .token-state").inner_text()
    q.reload()
    assert "もう一度ログイン" in q.locator("main").inner_text()  # the revoked token's session
    other.close()


def test_a_tso_fixes_a_switching_date_on_the_dates_page(
    page: tuple[Page, str], site: Site, backend: str
) -> None:
    matched(site)
    p, base = page
    _sign_in(p, base, site.tso_token)
    p.wait_for_url(f"{base}/console/work-orders")
    p.get_by_role("navigation", name=re.compile("メニュー|Menu")).get_by_role(
        "link", name="日付の確定"
    ).click()
    p.wait_for_url(f"{base}/console/dates")
    _axe(p)
    row = p.locator(f"#flow-{site.flow_id}")
    proposed = row.locator(".proposed").inner_text()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", proposed)
    _shot(p, "tso-dates", backend)
    row.get_by_role("button", name="日付を確定").click()
    p.wait_for_url(re.compile(rf"/console/flows/{site.flow_id}$"))
    _axe(p)
    assert p.locator("#state").inner_text() == "date_fixed"
    assert proposed in p.locator("main").inner_text()
    with site.engine.connect() as conn:
        flow = get_flow(conn, site.flow_id)
    assert flow is not None and flow.fixed_date is not None
    assert flow.fixed_date.isoformat() == proposed


def test_a_tso_reads_a_points_items_and_changes_its_current_limit(
    page: tuple[Page, str], site: Site, backend: str
) -> None:
    p, base = page
    _sign_in(p, base, site.tso_token)
    p.wait_for_url(f"{base}/console/work-orders")
    p.get_by_role("navigation", name="メニュー").get_by_role("link", name="供給地点情報").click()
    _axe(p)
    p.get_by_label(re.compile("供給地点特定番号")).fill(A)
    p.get_by_role("button", name="照会する").click()
    _axe(p)
    assert p.locator("#item-current_limit td").inner_text() == "30"
    assert A not in p.url  # the point stays out of the URL (a POST)
    p.locator("#current_limit").fill("40")
    p.get_by_role("button", name="変更を保存").click()
    _axe(p)
    assert "電流上限値" in p.locator("#changed").inner_text()
    assert p.locator("#item-current_limit td").inner_text() == "40"
    _shot(p, "tso-supply-point", backend)

"""The rights journeys in a real browser (Debian's chromium driven by Playwright, the app served
by uvicorn, a real SMTP sink): a customer asks for a disclosure and downloads it once prepared; a
customer asks for a correction, the retailer (the controller) accepts it in its console and the
customer sees the outcome; a customer asks to erase their data and a holder confirms it in its
console; the customer's points and contracts; a retailer files switches from a CSV file and reads
a result per row. Each new page is checked by axe-core (no serious or critical violation); the
main ones are saved as screenshots under ``docs/screenshots/`` (shown in the README).

Skipped when ``/usr/bin/chromium`` is missing, except under CI."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from jointuse.assembly import default_gate
from jointuse.demo.live import serve
from jointuse.ledger.service import find_entries
from jointuse.rights import requests_service
from web_switches import point_b_with_r_new, switch_csv
from web_world import EMAIL, A, Site

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs /usr/bin/chromium (apt-get install -y chromium)")
    pytest.skip("no /usr/bin/chromium (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright  # noqa: E402

from browser_checks import axe_check as _axe  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def served(site: Site) -> Iterator[str]:
    with serve(site.app) as base:  # type: ignore[arg-type]
        yield base


def _context(browser: Browser, blocked: list[str]) -> tuple[BrowserContext, Page]:
    context = browser.new_context(locale="ja-JP", viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    page.on("dialog", lambda d: d.accept())  # the "are you sure?" of data-confirm forms
    return context, page


@pytest.fixture
def customer(browser: Browser, served: str) -> Iterator[Page]:
    blocked: list[str] = []
    context, page = _context(browser, blocked)
    yield page
    context.close()
    assert blocked == [], f"the page broke its own CSP: {blocked}"


@pytest.fixture
def retailer(browser: Browser, served: str) -> Iterator[Page]:
    blocked: list[str] = []
    context, page = _context(browser, blocked)
    yield page
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


def _enrol(page: Page, base: str, site: Site) -> None:
    page.goto(f"{base}/my/enrol")
    page.get_by_label(re.compile("契約番号")).fill("OLD-1")
    page.get_by_label(re.compile("供給地点特定番号")).fill(A)
    page.get_by_label(re.compile("郵便番号")).fill("100-0001")
    page.get_by_label("メールアドレス").fill(EMAIL)
    page.get_by_role("button", name="確認コードを送る").click()
    page.get_by_label(re.compile("確認コード")).fill(_code(site))
    page.get_by_role("button", name="確認してログイン").click()
    page.wait_for_url(f"{base}/my/access-log")


def _prepare(engine: Engine, site: Site) -> list[str]:
    """The operator's step (``jointuse requests process``): the received disclosures prepared."""
    mailer = site.app.state.mailer  # type: ignore[attr-defined]
    return requests_service.process_disclosures(
        engine, default_gate(), mailer, at=datetime.now(UTC)
    )


def test_a_customer_asks_for_a_disclosure_and_downloads_it(
    customer: Page, served: str, site: Site, backend: str
) -> None:
    p, base = customer, served
    _enrol(p, base, site)
    p.get_by_role("link", name="開示等の請求").click()
    p.wait_for_url(f"{base}/my/requests")
    _axe(p)
    assert "請求はまだありません" in p.locator("main").inner_text()
    p.get_by_label("ファイル形式").select_option("csv")
    p.get_by_role("button", name="開示を請求", exact=True).click()
    p.wait_for_url(re.compile(r"/my/requests/[0-9a-f-]{36}\?made=1$"))
    _axe(p)
    rights_id = p.url.rsplit("/", 1)[1].split("?")[0]
    assert p.locator("#made").count() == 1
    assert p.locator("#state").inner_text() == "受付済み（準備中）"
    assert p.locator("#download").count() == 0
    assert _prepare(site.engine, site) == [rights_id]
    assert "開示の準備ができました" in site.sink.to(EMAIL)[-1].subject
    p.get_by_role("link", name="開示等の請求").click()
    row = p.locator("#requests tbody tr").first
    assert "開示請求 (CSV)" in row.inner_text() and "開示の準備ができました" in row.inner_text()
    _axe(p)
    _shot(p, "customer-requests", backend)
    with p.expect_download() as info:
        row.get_by_role("link", name=re.compile("ダウンロード")).click()
    download = info.value
    assert download.suggested_filename == f"disclosure-{rights_id}.csv"
    content = Path(download.path()).read_bytes().decode("utf-8-sig")
    assert A in content and "山田" in content and "みらい電力" in content
    assert EMAIL not in p.url and A not in p.url
    with site.engine.connect() as conn:
        rules = [e.entry.rule_id for e in find_entries(conn) if e.entry.request_id == rights_id]
    assert "subject:disclosure:receive" in rules and "subject:disclosure:prepare" in rules


def test_a_correction_accepted_by_the_retailer_in_its_console(
    customer: Page, retailer: Page, served: str, site: Site, backend: str
) -> None:
    p, base = customer, served
    _enrol(p, base, site)
    p.goto(f"{base}/my/requests")
    p.get_by_label("項目").select_option("basic:phone")
    p.get_by_label(re.compile("正しい内容")).fill("090-5555-6666")
    p.get_by_label("理由").first.fill("携帯電話に変えました")
    p.get_by_role("button", name="訂正を請求").click()
    p.wait_for_url(re.compile(r"/my/requests/[0-9a-f-]{36}\?made=1$"))
    rights_id = p.url.rsplit("/", 1)[1].split("?")[0]
    assert p.locator("#state").inner_text() == "管理責任者に回付済み"
    assert "みらい電力" in p.locator("main").inner_text()  # who answers, by name
    # The retailer (the controller of basic items) answers in its console.
    r = retailer
    r.goto(f"{base}/console/sign-in")
    r.get_by_label(re.compile("APIトークン")).fill(site.retailer_token)
    r.get_by_role("button", name="ログイン").click()
    r.wait_for_url(f"{base}/console/forwardings")
    r.get_by_role("link", name="訂正請求").click()
    r.wait_for_url(f"{base}/console/corrections")
    _axe(r)
    assert "09055556666" not in r.locator("main").inner_text()  # no personal data in the list
    r.locator("#pending").get_by_role("link", name=rights_id).click()
    r.wait_for_url(f"{base}/console/corrections/{rights_id}")
    _axe(r)
    assert r.locator("#value").inner_text() == "09055556666"
    _shot(r, "retailer-correction", backend)
    r.get_by_role("button", name="訂正する").click()
    r.wait_for_url(f"{base}/console/corrections/{rights_id}")
    assert r.locator("#state").inner_text() == "訂正済み"
    assert "訂正しました" in r.locator("#outcome").inner_text()
    assert r.get_by_role("button", name="訂正する").count() == 0
    r.goto(f"{base}/console/corrections")
    assert rights_id in r.locator("#answered").inner_text()
    # The customer sees the outcome.
    p.reload()
    _axe(p)
    assert p.locator("#state").inner_text() == "訂正済み"
    outcome = p.locator("#outcome").inner_text()
    assert "訂正しました" in outcome and "みらい電力" in outcome
    assert "訂正しました" in site.sink.to(EMAIL)[-1].subject
    with site.engine.connect() as conn:
        written = [
            e.entry
            for e in find_entries(conn, supply_point_id=A)
            if e.entry.party == "r-old" and e.entry.action == "write"
        ]
    applied = [e for e in written if e.purpose == "P1_wheeling"]
    assert applied and applied[0].decision == "allowed" and applied[0].items_granted == ("phone",)


def test_a_customer_reads_their_points_and_contracts(
    customer: Page, served: str, site: Site, backend: str
) -> None:
    p, base = customer, served
    _enrol(p, base, site)
    p.get_by_role("link", name="供給地点と契約").click()
    p.wait_for_url(f"{base}/my/contracts")
    _axe(p)
    contracts = p.locator("table.contracts").inner_text()
    assert "みらい電力" in contracts and "OLD-1" in contracts and "2024-01-01" in contracts
    assert "契約中" in contracts
    _shot(p, "customer-contracts", backend)
    p.get_by_role("link", name="English").click()
    _axe(p)
    assert "Mirai Power" in p.locator("table.contracts").inner_text()


def test_a_retailer_uploads_a_csv_of_switches(
    retailer: Page, served: str, site: Site, backend: str
) -> None:
    point_b_with_r_new(site)
    r, base = retailer, served
    r.goto(f"{base}/console/sign-in")
    r.get_by_label(re.compile("APIトークン")).fill(site.retailer_token)
    r.get_by_role("button", name="ログイン").click()
    r.wait_for_url(f"{base}/console/forwardings")
    r.get_by_role("link", name="スイッチング一括申込（CSV）").click()
    r.wait_for_url(f"{base}/console/filings/csv")
    _axe(r)
    r.get_by_label(re.compile("CSVファイル")).set_input_files(
        files=[{"name": "switches.csv", "mimeType": "text/csv", "buffer": switch_csv("cp932")}]
    )
    r.get_by_role("button", name="申し込む").click()
    r.wait_for_load_state()
    _axe(r)
    assert r.locator("#filed").inner_text() == "1" and r.locator("#refused").inner_text() == "2"
    rows = r.locator("#results tbody tr")
    assert rows.count() == 3
    assert "受付" in rows.nth(0).inner_text() and "phone" in rows.nth(2).inner_text()
    _shot(r, "retailer-csv-filings", backend)
    rows.nth(0).get_by_role("link").click()
    r.wait_for_url(re.compile(r"/console/flows/"))
    assert r.locator("#state").inner_text() == "awaiting_judgement"


def test_a_stop_use_request_confirmed_by_a_holder_in_its_console(
    customer: Page, retailer: Page, served: str, site: Site
) -> None:
    p, base = customer, served
    _enrol(p, base, site)
    p.goto(f"{base}/my/requests")
    p.get_by_label("請求の内容").select_option("erasure")
    p.get_by_label(re.compile("請求の理由")).select_option("art35_5_no_longer_needed")
    p.get_by_role("button", name="利用停止・消去を請求").click()  # confirmed in the dialog
    p.wait_for_url(re.compile(r"/my/requests/[0-9a-f-]{36}\?made=1$"))
    _axe(p)
    rights_id = p.url.rsplit("/", 1)[1].split("?")[0]
    assert p.locator("#state").inner_text() == "各事業者に依頼中"
    r = retailer
    r.goto(f"{base}/console/sign-in")
    r.get_by_label(re.compile("APIトークン")).fill(site.retailer_token)
    r.get_by_role("button", name="ログイン").click()
    r.wait_for_url(f"{base}/console/forwardings")
    r.get_by_role("link", name="利用停止・消去請求").click()
    _axe(r)
    r.locator("#pending").get_by_role("link", name=rights_id).click()
    _axe(r)
    assert r.locator("#action").inner_text() == "消去"
    r.get_by_label("備考（任意）").fill("消去しました")
    r.get_by_role("button", name="対応済みとして登録").click()
    r.wait_for_url(f"{base}/console/stop-use/{rights_id}")
    assert r.locator("#part").inner_text() == "対応済み"
    p.reload()
    parts = p.locator("main table").nth(1).inner_text()
    assert "みらい電力" in parts and "対応済み" in parts

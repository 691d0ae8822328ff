"""Checks shared by the real-browser tests (``tests/web/test_browser*.py``).

``axe_check`` runs axe-core on the page once it has settled. A click that follows a link or
submits a form returns as soon as the navigation has started, so axe could otherwise start on
the old document and have it replaced under it (CI saw ``Cannot read properties of null
(reading 'documentElement')``). The check waits for the page to load, and if the document is
still replaced while axe runs, it runs again on the new one: the result it asserts on always
comes from one whole document."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Error, Page

# What Playwright or axe report when the document is replaced during an evaluation.
_NAVIGATED = (
    "documentElement",
    "Execution context was destroyed",
    "navigation",
)


def axe_check(page: Page, *, attempts: int = 3) -> None:
    """axe-core on the page as it is once loaded: no serious or critical violation."""
    for attempt in range(1, attempts + 1):
        page.wait_for_load_state("load")
        try:
            result = Axe().run(page)
            break
        except Error as error:
            if attempt == attempts or not any(m in str(error) for m in _NAVIGATED):
                raise
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert bad == [], f"{page.url}: {bad}"

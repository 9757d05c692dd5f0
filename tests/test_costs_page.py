"""The Costs page in real headless Chromium against its JSON twins (whose figures
test_costs_advice.py and test_costs_forecast.py recompute independently)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from test_costs_advice import advised  # noqa: F401 - cheaper model-b for summarize

from conftest import Server
from test_dashboard import CHROMIUM, browser, logged_in  # noqa: F401

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


def test_costs_page_shows_the_advice_and_budgets(
    browser: Browser,  # noqa: F811
    server: Server,
    advised: dict[str, Any],  # noqa: F811
) -> None:
    key = advised["key"]
    with server.client(key) as http:
        budget = {"scope": "feature:summarize", "amount_usd": 0.01}
        assert http.put("/v1/costs/budgets/tiny", json=budget).status_code == 200
        recommended = http.get("/v1/costs/recommendations").json()["recommended"]
        forecast = http.get("/v1/costs/forecast").json()["groups"][0]
        [status] = http.get("/v1/costs/budgets").json()["budgets"]
    page = logged_in(browser, server, key)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/costs")
    page.wait_for_load_state("networkidle")
    assert errors == []
    rows = page.locator("#recommendations tbody tr[data-candidate]")
    assert rows.count() == len(recommended) == 1
    assert rows.first.locator("td").nth(2).inner_text() == recommended[0]["candidate"]
    href = rows.first.locator("a").get_attribute("href") or ""
    assert href.endswith("&feature=summarize&model_id=model-b") and href.startswith("/requests?")
    assert page.locator("#forecast-method").inner_text() == forecast["method"]
    row = page.locator("#budgets tr[data-budget='tiny']")
    assert row.locator("td.share").inner_text() == f"{status['share'] * 100:.0f}%"
    assert row.locator("td.exhausts").inner_text() == (status["exhausts_on"] or "not this period")
    assert page.locator("#overrides tbody tr").count() == 2  # model-a and model-b prices
    chart = page.locator(".chart[data-chart='Daily spend and forecast'] .main-svg")
    assert chart.count() >= 1

"""The Drift and Data quality pages in real headless Chromium, against their JSON twins
(whose figures test_drift.py and test_quality.py recompute independently)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from conftest import Server, new_project_key
from llmpulse.sim.traffic import ModelProfile, Shift, TrafficGenerator
from test_dashboard import CHROMIUM, browser, logged_in  # noqa: F401

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def shifted(server: Server) -> str:
    """Two weeks of traffic; a week ago a new model took a fifth of the calls."""
    key = new_project_key(server, admin=True)  # admin: it saves a baseline too
    now = datetime.now(UTC)
    newcomer = ModelProfile("gpt-5", "openai", 900, 0.4, 300, 700, 260, 1.0, 0.2)
    gen = TrafficGenerator(seed=4, users=80, text=True,
                           shifts=(Shift(now - timedelta(days=7), new_model=newcomer),))  # fmt: skip
    start = now - timedelta(days=14)
    events = [gen.event(start + i * timedelta(days=14) / 3000) for i in range(3000)]
    with server.client(key) as http:
        assert http.post("/v1/events", json=events).status_code == 202
    server.wait_loaded()
    return key


def _page(browser: Browser, server: Server, key: str, path: str) -> Any:  # noqa: F811
    page = logged_in(browser, server, key)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}{path}")
    page.wait_for_load_state("networkidle")
    return page, errors


def test_drift_page_shows_the_report(browser: Browser, server: Server, shifted: str) -> None:  # noqa: F811
    windows = {"reference": "-14d..-7d", "current": "-7d..now"}
    page, errors = _page(browser, server, shifted, "/drift")
    with server.client(shifted) as http:
        report = http.get("/v1/drift", params=windows).json()
    rows = page.locator("#drift-columns tbody tr")
    assert rows.count() == len(report["columns"])
    for column in report["columns"]:
        row = page.locator(f"#drift-columns tr[data-column='{column['column']}']")
        drifted = row.locator("td.drifted").inner_text()
        expected = "yes" if column["drifted"] else "no"
        if column["status"] != "ok":
            expected = column["status"].replace("_", " ")
        assert drifted == expected, column["column"]
    assert (
        page.locator("#drift-columns tr[data-column='model_id'] td.drifted").inner_text() == "yes"
    )
    tested = sum(c["status"] == "ok" for c in report["columns"])
    assert page.locator(".spark.js-plotly-plot").count() == tested
    assert page.locator("#drifted-count").inner_text() == (
        f"{report['drifted_columns']} of {report['tested_columns']}"
    )
    page.locator(".card .chart .main-svg").first.wait_for()
    # A saved baseline as the reference: the verdict its JSON twin gives.
    with server.client(shifted) as http:
        saved = http.put("/v1/drift/baselines/before", json={"window": "-14d..-7d"})
        assert saved.status_code == 200, saved.text
        report = http.get("/v1/drift", params={"reference": "baseline:before"}).json()
    page.goto(f"{server.url}/drift?reference=baseline:before")
    assert page.locator("#drifted-count").inner_text() == (
        f"{report['drifted_columns']} of {report['tested_columns']}"
    )
    page.goto(f"{server.url}/drift?reference=baseline:nope")
    assert "no saved baseline 'nope'" in page.locator("#drift-problem").inner_text()
    # Windows that overlap: the page says why instead of failing.
    page.goto(f"{server.url}/drift?reference=-10d..-3d&current=-5d..now")
    assert "overlaps" in page.locator("#drift-problem").inner_text()
    assert errors == []


def test_quality_page_shows_every_check(browser: Browser, server: Server, shifted: str) -> None:  # noqa: F811
    page, errors = _page(browser, server, shifted, "/quality?range=7d")
    with server.client(shifted) as http:
        report = http.get("/v1/quality", params={"from": "-7d"}).json()
    for check in report["checks"]:
        row = page.locator(f"#quality-checks tr[data-check='{check['name']}']")
        assert row.locator("td.status").inner_text() == check["status"], check["name"]
    assert page.locator("#quality-verdict").inner_text() == report["status"]
    assert page.locator("#quality-models tbody tr").count() == len(report["models"])
    assert errors == []

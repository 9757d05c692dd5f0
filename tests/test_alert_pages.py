"""The Alerts, rule editor and SLOs pages in real headless Chromium, against their JSON
twins on a real server (rules evaluated when the test asks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from conftest import Server, new_project_key
from test_dashboard import CHROMIUM, browser, logged_in  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A project with errors in its last hour, a rule firing on them, and an SLO."""
    server = Server(tmp_path_factory.mktemp("alert-pages") / "data", "--no-alerts").start()
    key = new_project_key(server, admin=True)
    now = datetime.now(UTC)
    events = [{"model_id": "gpt-4o" if i % 2 else "claude", "latency_ms": 100 + i,
               "ts": (now - timedelta(minutes=50) + timedelta(seconds=i * 3)).isoformat(),
               **({"status": "error", "error_type": "timeout"} if i % 2 and i % 10 < 6 else {})}
              for i in range(800)]  # fmt: skip
    with server.client(key) as http:
        assert http.post("/v1/events", json=events).status_code == 202
        server.wait_loaded()
        rule = {"name": "Timeouts", "metric": "error_rate", "critical": 0.2, "window": "1h",
                "group_by": ["model_id"]}  # fmt: skip
        assert http.put("/v1/alerts/rules/timeouts", json=rule).status_code == 200
        slo = {"name": "Success", "sli": "success", "objective": 0.99}
        assert http.post("/v1/slos", json=slo).status_code == 201
        assert http.post("/v1/alerts/evaluate").status_code == 200
    yield server, key
    server.stop()


def test_alerts_page_shows_what_the_api_says(browser: Browser, site: Any) -> None:  # noqa: F811
    server, key = site
    page = logged_in(browser, server, key)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/alerts")
    with server.client(key) as http:
        live = [a for a in http.get("/v1/alerts").json()["alerts"] if a["state"] != "ok"]
    rows = page.locator("#live-alerts tbody tr")
    # The rule, and the SLO's burn-rate alerts (3 in 10 calls of one model fail).
    assert rows.count() == len(live) == 3
    ids = {a["rule_id"] for a in live}
    assert "timeouts" in ids and all(i.startswith("slo:success:") for i in ids - {"timeouts"})
    firing = next(a for a in live if a["rule_id"] == "timeouts")
    cells = (
        page.locator("#live-alerts tbody tr", has_text="Timeouts").locator("td").all_inner_texts()
    )
    assert cells[0] == "Timeouts" and cells[1].strip() == "model_id=gpt-4o"
    assert cells[2] == "firing" and cells[3] == "critical"
    assert cells[4] == f"{firing['value']:.4g}" and cells[5] == "0.2"
    assert firing["cause"]["dimension"] in cells[7]
    page.locator("[data-chart] .main-svg").first.wait_for()
    assert "firing" in page.locator("#alert-history").inner_text()
    assert "No channel" in page.locator("#channels").inner_text()
    assert errors == []


def test_enable_a_starter_with_one_click(browser: Browser, site: Any) -> None:  # noqa: F811
    server, key = site
    page = logged_in(browser, server, key)
    page.goto(f"{server.url}/alerts")
    page.click("[data-enable=starter-unpriced]")
    page.wait_for_function("document.querySelector('#starters').innerText.includes('(enabled)')")
    with server.client(key) as http:
        rule = http.get("/v1/alerts/rules/starter-unpriced").json()["rule"]
    assert rule["metric"] == "unpriced_share" and rule["warning"] == 0.01
    assert "Unpriced calls above 1%" in page.locator("#rules").inner_text()


def test_rule_editor_backtests_then_saves(browser: Browser, site: Any) -> None:  # noqa: F811
    server, key = site
    page = logged_in(browser, server, key)
    page.goto(f"{server.url}/alerts/rules/edit")
    page.fill("input[name=name]", "Claude errors")
    page.select_option("select[name=metric]", "error_rate")
    page.fill("input[name=critical]", "0.1")
    page.fill("input[name=window]", "15m")
    page.fill("input[name=every]", "5m")
    page.fill("input[name=filters]", "model_id=gpt-4o")
    page.click("#backtest")
    page.wait_for_function(
        "document.getElementById('rule-message').textContent.startsWith('Would')"
    )
    rule = {"name": "Claude errors", "metric": "error_rate", "critical": 0.1, "window": "15m",
            "every": "5m", "comparison": ">", "no_data": "ok", "group_by": [], "channels": [],
            "filters": {"model_id": ["gpt-4o"]}}  # fmt: skip
    with server.client(key) as http:
        expected = http.post("/v1/alerts/rules/backtest", json={"rule": rule}).json()
    assert page.locator("#rule-message").inner_text() == (
        f"Would have fired {expected['fired']} time(s) in {expected['evaluations']} "
        f"evaluations (every {expected['step']} s)."
    )
    assert expected["fired"] >= 1
    assert page.locator("#episodes tbody tr").count() == len(expected["episodes"])
    page.locator("#backtest-chart .main-svg").first.wait_for()
    page.fill("input[name=critical]", "0.05")
    page.fill("input[name=warning]", "0.5")
    page.click("#save-rule")
    page.wait_for_function(
        "document.getElementById('rule-message').textContent.includes('critical')"
    )
    assert page.locator("#rule-message").inner_text() == (
        "invalid rule: critical: must be at or above warning for a '>' rule"
    )
    page.fill("input[name=warning]", "")
    page.click("#save-rule")
    page.wait_for_url(re.compile(r"/alerts$"))
    with server.client(key) as http:
        saved = http.get("/v1/alerts/rules/claude-errors").json()["rule"]
    assert saved["critical"] == 0.05 and saved["filters"] == {"model_id": ["gpt-4o"]}


def test_slos_page(browser: Browser, site: Any) -> None:  # noqa: F811
    server, key = site
    page = logged_in(browser, server, key)
    page.goto(f"{server.url}/slos")
    with server.client(key) as http:
        status = http.get("/v1/slos/success").json()["status"]
    shown = page.locator("[data-slo=success] [data-budget]")
    assert float(shown.get_attribute("data-budget") or "nan") == pytest.approx(
        status["budget_remaining"]
    )
    text = " ".join(page.locator("[data-slo=success]").inner_text().split())
    assert f"{status['calls']:,} calls, {status['bad']:,} bad" in text
    assert page.locator("[data-chart]").count() == 2
    page.locator("[data-chart] .main-svg").first.wait_for()


def test_read_only_key_sees_no_buttons(browser: Browser, site: Any) -> None:  # noqa: F811
    from llmpulse.meta.keys import KeyStore

    server, key = site
    with server.client(key) as http:
        project = http.get("/v1/alerts/rules").json()  # the same project as `key`
    assert project["rules"]
    store = KeyStore(server.data_dir / "keys.sqlite3")
    reader = store.create_key(store.list_keys()[-1].project, frozenset({"read"}))[1]
    page = logged_in(browser, server, reader)
    page.goto(f"{server.url}/alerts")
    assert page.locator("[data-enable]").count() == 0
    page.goto(f"{server.url}/alerts/rules/edit")
    assert page.locator("#save-rule").count() == 0

"""The dashboard in real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from conftest import ADMIN_KEY, Server
from llmpulse.sim.sender import EventSender
from llmpulse.sim.traffic import TrafficGenerator

CHROMIUM = "/usr/bin/chromium"
PAGES = ("/", "/requests", "/models", "/errors", "/costs", "/users", "/social", "/logs")
CHART_PAGES = ("/", "/models", "/errors", "/costs")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, datetime, datetime]]:
    """A server with auth on and 6,000 simulated events over the 6 hours before `end`."""
    server = Server(tmp_path_factory.mktemp("dash") / "data").start()
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(hours=6)
    gen = TrafficGenerator(seed=21, users=40)
    events = [gen.event(start + i * timedelta(hours=6) / 6000) for i in range(6000)]
    sender = EventSender(server.url, ADMIN_KEY)
    for i in range(0, len(events), 1000):
        sender.send(events[i : i + 1000])
    server.wait_loaded()
    yield server, start, end
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield chromium
        chromium.close()


def logged_in(browser: Browser, server: Server, key: str = ADMIN_KEY, **options: Any) -> Page:
    page = browser.new_page(**options)
    page.goto(f"{server.url}/login")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(server.url)}/(\?.*)?$"))
    return page


def custom_range(start: datetime, end: datetime) -> str:
    return f"range=custom&from={start.isoformat().replace('+00:00', 'Z')}&to={end.isoformat().replace('+00:00', 'Z')}"


def test_every_page_loads_without_console_errors(browser: Browser, site: Any) -> None:
    server, start, end = site
    page = logged_in(browser, server)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    for path in PAGES:
        page.goto(f"{server.url}{path}?{custom_range(start, end)}")
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").inner_text(), path
        if path in CHART_PAGES:
            charts = page.locator("[data-chart]")
            assert charts.count() >= 2, path
            for i in range(charts.count()):
                chart = charts.nth(i)
                chart.locator(".main-svg").first.wait_for()
                drawn = chart.locator(".scatterlayer .trace, .barlayer .trace").count()
                assert drawn > 0, (path, chart.get_attribute("data-chart"))
    assert errors == []


def test_overview_kpis_equal_the_json_api(browser: Browser, site: Any) -> None:
    server, start, end = site
    page = logged_in(browser, server)
    page.goto(f"{server.url}/?{custom_range(start, end)}")
    shown = {
        el.get_attribute("data-kpi"): el.get_attribute("data-value")
        for el in page.locator("[data-kpi]").all()
    }
    with server.client() as http:
        api = http.get(
            "/v1/metrics/summary", params={"from": start.isoformat(), "to": end.isoformat()}
        ).json()
    g = api["groups"][0]
    assert int(shown["requests"]) == g["requests"] == 6000
    assert float(shown["error_rate"]) == pytest.approx(g["error_rate"])
    assert float(shown["latency_p50"]) == pytest.approx(g["latency_ms"]["p50"])
    assert float(shown["latency_p95"]) == pytest.approx(g["latency_ms"]["p95"])
    assert float(shown["latency_p99"]) == pytest.approx(g["latency_ms"]["p99"])
    assert float(shown["ttft_p95"]) == pytest.approx(g["ttft_ms"]["p95"])
    assert float(shown["tokens_per_s"]) == pytest.approx(g["tokens_per_s"])
    assert int(shown["tokens"]) == g["tokens_in"] + g["tokens_out"]
    assert float(shown["cost_usd"]) == pytest.approx(g["cost_usd"])
    assert float(shown["cost_per_hour"]) == pytest.approx(g["cost_usd"] / 6)


def test_filter_and_range_change_url_and_numbers(browser: Browser, site: Any) -> None:
    server, start, end = site
    page = logged_in(browser, server)
    page.goto(f"{server.url}/?{custom_range(start, end)}")
    before = int(page.locator("[data-kpi=requests]").get_attribute("data-value") or 0)
    page.select_option("#filter-dim", "model_id")
    page.fill("#filter-value", "gpt-4o")
    page.click("#add-filter")
    page.wait_for_url(re.compile(r"model_id=gpt-4o"))
    after = int(page.locator("[data-kpi=requests]").get_attribute("data-value") or 0)
    with server.client() as http:
        api = http.get(
            "/v1/metrics/summary",
            params={"from": start.isoformat(), "to": end.isoformat(), "model_id": "gpt-4o"},
        ).json()
    assert after == api["groups"][0]["requests"] < before
    page.reload()  # the URL alone restores the view
    assert int(page.locator("[data-kpi=requests]").get_attribute("data-value") or 0) == after

    page.select_option("select[name=range]", "1h")
    page.wait_for_url(re.compile(r"range=1h"))
    assert "model_id=gpt-4o" in page.url
    page.select_option("select[name=refresh]", "30s")
    page.wait_for_url(re.compile(r"refresh=30s"))
    assert page.locator("#updated").inner_text().startswith("updated ")


def test_request_detail_opens_with_its_session(browser: Browser, site: Any) -> None:
    server, start, end = site
    page = logged_in(browser, server)
    page.goto(f"{server.url}/requests?{custom_range(start, end)}")
    first = page.locator("tr[data-event]").first
    event_id = first.get_attribute("data-event")
    first.click()
    page.locator("#detail h2").first.wait_for()
    detail = page.locator("#detail").inner_text()
    assert f"Request {event_id}" in detail
    assert "Same session" in detail
    with server.client() as http:
        related = http.get(f"/v1/requests/{event_id}/related").json()
    assert f"Same session ({len(related['session'])})" in detail


def test_login_logout_and_wrong_key(browser: Browser, site: Any) -> None:
    server, _, _ = site
    page = browser.new_page()
    page.goto(f"{server.url}/costs")
    assert "/login" in page.url
    page.fill("input[name=key]", "lp_wrong")
    page.click("button[type=submit]")
    assert "not valid" in page.locator("#login-error").inner_text()
    page.fill("input[name=key]", ADMIN_KEY)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/costs$"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "llmpulse_key")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.click("#logout")
    page.wait_for_url(re.compile(r"/login"))
    page.goto(f"{server.url}/")
    assert "/login" in page.url


def test_empty_project_shows_how_to_send_events(browser: Browser, site: Any) -> None:
    from llmpulse.meta.keys import KeyStore

    server, _, _ = site
    keys = KeyStore(server.data_dir / "keys.sqlite3")
    keys.create_project("fresh")
    _, key = keys.create_key("fresh")
    page = logged_in(browser, server, key)
    assert "No events in project fresh" in page.locator("#onboarding").inner_text()
    assert "curl -X POST" in page.content()
    assert page.locator("[data-chart]").count() == 0


def test_phone_width_has_no_horizontal_scroll(browser: Browser, site: Any) -> None:
    server, start, end = site
    page = logged_in(browser, server, viewport={"width": 390, "height": 844})
    page.goto(f"{server.url}/?{custom_range(start, end)}")
    page.wait_for_load_state("networkidle")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1


def test_session_opens_as_a_timeline(browser: Browser, site: Any) -> None:
    server, start, end = site
    page = logged_in(browser, server)
    page.goto(f"{server.url}/users?{custom_range(start, end)}")
    link = page.locator("#sessions a").first
    session_id = link.inner_text()
    link.click()
    page.wait_for_url(re.compile(r"/sessions/"))
    page.locator("[data-chart=timeline] .barlayer .trace").first.wait_for()
    rows = page.locator("#session-calls tbody tr").count()
    with server.client() as http:
        calls = http.get(
            "/v1/requests",
            params={
                "session_id": session_id,
                "from": start.isoformat(),
                "to": end.isoformat(),
                "limit": 500,
            },
        ).json()["requests"]
    assert rows == len(calls) > 0


def test_hostile_names_are_shown_as_text(browser: Browser, site: Any) -> None:
    server, start, end = site
    hostile = "</script><script>window.pwned=1</script><img src=x onerror=window.pwned=2>"
    with server.client() as http:
        r = http.post(
            "/v1/events",
            json={
                "model_id": hostile,
                "latency_ms": 5,
                "ts": (end - timedelta(minutes=1)).isoformat(),
            },
        )
        assert r.status_code == 202
    server.wait_loaded()
    page = logged_in(browser, server)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/?{custom_range(start, end + timedelta(minutes=2))}")
    page.locator("[data-chart] .main-svg").first.wait_for()
    assert page.evaluate("window.pwned") is None
    assert hostile in page.locator("#model-table").inner_text()
    assert errors == []


def test_bad_custom_range_is_explained_on_the_page(browser: Browser, site: Any) -> None:
    server, _, _ = site
    page = logged_in(browser, server)
    page.goto(f"{server.url}/?range=custom&from=yesterday")
    assert "from: 'yesterday' is not a time" in page.locator("#control-error").inner_text()
    assert page.locator("[data-kpi=requests]").count() == 1


def test_unpriced_calls_are_never_shown_as_zero_cost(browser: Browser, site: Any) -> None:
    """A model without a price shows "unpriced (N calls)", never $0.0000; totals say what
    they exclude; counts have thousands separators."""
    from llmpulse.meta.keys import KeyStore

    server, _, _ = site
    keys = KeyStore(server.data_dir / "keys.sqlite3")
    keys.create_project("unpriced")
    _, key = keys.create_key("unpriced")
    now = datetime.now(UTC) - timedelta(minutes=5)
    house = [{"model_id": "house-model-x", "latency_ms": 20, "tokens_in": 10, "tokens_out": 5,
              "user_id": "u-house", "session_id": "s-house", "ts": now.isoformat()}] * 1500  # fmt: skip
    priced = [{"model_id": "gpt-4o", "latency_ms": 30, "tokens_in": 100, "tokens_out": 50,
               "user_id": "u-priced", "ts": now.isoformat()}] * 1200  # fmt: skip
    sender = EventSender(server.url, key)
    sender.send(house)
    sender.send(priced)
    server.wait_loaded()
    page = logged_in(browser, server, key)

    def row(table: str, name: str) -> list[str]:
        cells = page.locator(f"{table} tr", has_text=name).first.locator("td")
        return [cells.nth(i).inner_text() for i in range(cells.count())]

    page.goto(f"{server.url}/?range=1h")
    house_row, priced_row = row("#model-table", "house-model-x"), row("#model-table", "gpt-4o")
    assert house_row[1] == "1,500" and priced_row[1] == "1,200"
    assert house_row[10] == "unpriced (1,500 calls)" and house_row[11] == "1,500"
    assert priced_row[10].startswith("$") and priced_row[11] == "0"
    assert house_row[8] == "15,000"  # tokens in
    cost_card = page.locator("[data-kpi=cost_usd]").inner_text()
    assert "excludes 1,500 unpriced calls" in cost_card
    assert page.locator("[data-kpi=requests] .value").inner_text() == "2,700"

    page.goto(f"{server.url}/costs?range=1h")
    assert row("#cost-table", "house-model-x")[1:3] == ["1,500", "unpriced (1,500 calls)"]
    assert "house-model-x (1,500 events)" in page.locator("#unpriced-banner").inner_text()

    page.goto(f"{server.url}/users?range=1h")
    assert row("#sessions", "s-house")[4:7] == ["1,500", "0", "unpriced (1,500 calls)"]
    user = page.locator(".card", has_text="Top users by cost").first
    assert "unpriced (1,500 calls)" in user.locator("tr", has_text="u-house").inner_text()

    for path in ("/", "/costs", "/users", "/models", "/requests"):
        page.goto(f"{server.url}{path}?range=1h")
        assert "$0.0000" not in page.locator("main").inner_text(), path


def test_tables_download_as_csv(browser: Browser, site: Any) -> None:
    """Each table's "Download CSV" gives its rows as shown; the requests page also links to
    every call in range and filters, which equals the export API's count."""
    server, start, end = site
    page = logged_in(browser, server)
    page.goto(f"{server.url}/requests?{custom_range(start, end)}&model_id=gpt-4o")
    shown = page.locator("#requests-table tbody tr").count()
    with page.expect_download() as download:
        page.locator("button.download-csv").first.click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("time,model,provider,status") and len(lines) == shown + 1
    assert all(",gpt-4o," in line for line in lines[1:])
    href = page.locator("#export-csv").get_attribute("href")
    assert href is not None
    every = page.request.get(f"{server.url}{href}").text()
    with server.client() as http:
        summary = http.get("/v1/metrics/summary", params={
            "from": start.isoformat(), "to": end.isoformat(), "model_id": "gpt-4o"}).json()  # fmt: skip
    assert len(every.splitlines()) - 1 == summary["groups"][0]["requests"] > shown


def test_project_page_shows_retention_redaction_and_erasures(browser: Browser, site: Any) -> None:
    server, _, _ = site
    with server.client() as http:
        assert http.put("/v1/projects/test/retention", json={"raw": "45d"}).is_success
        assert http.put("/v1/settings/redaction", json={"rules": {"email": True}}).is_success
        call = {"model_id": "m", "latency_ms": 1, "prompt": "write to a@b.example.org or c@d.io"}
        assert http.post("/v1/events", json=[call]).status_code == 202
        receipt = http.delete("/v1/users/nobody-at-all").json()
        server.wait_loaded()
        erased = http.get("/v1/users/erasures").json()["erasures"]
    assert erased[0]["id"] == receipt["id"]
    page = logged_in(browser, server)
    page.goto(f"{server.url}/project")
    raw = page.locator("#retention-periods tr[data-kind=raw]").inner_text()
    assert "45" in raw and "this project" in raw
    assert "server default" in page.locator("#retention-periods tr[data-kind=rollups]").inner_text()
    email = page.locator("#redaction-rules tr[data-rule=email] td").all_inner_texts()
    assert email[1:] == ["on", "2"]  # two addresses in the one prompt
    assert page.locator("#redaction-rules tr[data-rule=phone] td").all_inner_texts()[1] == "off"
    assert receipt["id"] in page.locator("#erasures").inner_text()

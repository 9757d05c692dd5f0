"""The Experiments, Retention, Funnels and Sessions & adoption pages in real headless
Chromium, against their JSON twins on a real server (whose figures test_experiments.py and
test_product_analytics.py recompute independently)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from conftest import Server, new_project_key
from llmpulse.sim.sender import EventSender
from llmpulse.sim.traffic import EXPERIMENT, TrafficGenerator
from test_dashboard import CHROMIUM, browser, custom_range, logged_in  # noqa: F401

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
DAYS = 14
SKEWED = "onboarding_copy"  # planned 50/50, got 70/30: a sample ratio mismatch


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    """Two weeks of simulated traffic (users joining and churning, sessions walking the
    search → summarize → export funnel, the simulator's A/B test), and a skewed experiment."""
    server = Server(tmp_path_factory.mktemp("analytics-pages") / "data").start()
    key = new_project_key(server, admin=True)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    gen = TrafficGenerator(seed=8, users=150, today=end.date())
    events = [gen.event(start + i * (end - start) / 8000) for i in range(8000)]
    events += [
        {"model_id": "gpt-4o", "latency_ms": 200 + i % 50, "user_id": f"skew_{i}",
         "ts": (end - timedelta(minutes=1 + i % 600)).isoformat(),
         "experiment": {"name": SKEWED, "variant": "A" if i % 10 < 7 else "B"}}
        for i in range(1000)
    ]  # fmt: skip
    sender = EventSender(server.url, key)
    for i in range(0, len(events), 1000):
        sender.send(events[i : i + 1000])
    server.wait_loaded()
    yield server, key, custom_range(start, end)
    server.stop()


def opened(browser: Browser, site: Any, path: str) -> tuple[Page, list[str]]:  # noqa: F811
    server, key, _ = site
    page = logged_in(browser, server, key)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}{path}")
    page.wait_for_load_state("networkidle")
    return page, errors


def api(site: Any, path: str, **params: str) -> dict[str, Any]:
    server, key, window = site
    query = dict(p.split("=", 1) for p in window.split("&") if not p.startswith("range="))
    with server.client(key) as http:
        answer = http.get(path, params={**query, **params})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def charts_drawn(page: Page) -> dict[str, int]:
    """Each chart's title and its number of drawn traces."""
    drawn = {}
    for chart in page.locator("[data-chart]").all():
        chart.locator(".main-svg").first.wait_for()
        traces = chart.locator(".scatterlayer .trace, .barlayer .trace, .heatmaplayer .hm")
        drawn[str(chart.get_attribute("data-chart"))] = traces.count()
    return drawn


def numbers(cells: list[str]) -> list[int]:
    return [int(c.replace(",", "")) for c in cells]


def test_experiment_page_shows_the_report_of_the_api(browser: Browser, site: Any) -> None:  # noqa: F811
    page, errors = opened(browser, site, f"/experiments?experiment={EXPERIMENT}&{site[2]}")
    report = api(site, f"/v1/experiments/{EXPERIMENT}")
    # The simulator's B is faster but fails 60% more often: not a pass.
    assert report["verdict"] in ("fail", "marginal")
    assert page.locator("#verdict").inner_text() == report["verdict"]
    assert page.locator("#srm-banner").count() == 0
    for variant in report["variants"]:
        card = page.locator(f".kpi[data-variant='{variant['variant']}']")
        assert card.locator(".value").inner_text() == f"{variant['events']:,} calls"
    metrics = {m for v in report["variants"] for m in v["metrics"]}
    shown = page.locator("#experiment-metrics tbody tr")
    assert {r.get_attribute("data-metric") for r in shown.all()} == metrics
    b = next(v for v in report["variants"] if v["variant"] == "B")["metrics"]["error_rate"]
    cells = page.locator("#experiment-metrics tr[data-metric='error_rate'] td").all_inner_texts()
    # metric, A, B, B's change, B's p (Holm)
    assert cells[3].startswith(f"{b['relative'] * 100:+.1f}%")
    assert cells[4] == f"{b['p_value']:.2g} ({b['p_adjusted']:.2g})"
    outcome = next(v for v in report["variants"] if v["variant"] == "B")["verdict"]["guardrails"]
    colour = {"fail": "worse", "pass": "better"}.get(outcome["error_rate"]["outcome"], "")
    change = page.locator("#experiment-metrics tr[data-metric='error_rate'] td").nth(3)
    assert change.get_attribute("class") == f"num {colour}"
    drawn = charts_drawn(page)
    assert drawn["Change vs control, with CIs"] > 0
    assert drawn["Latency by variant (sampled calls)"] == 2  # one histogram per variant
    assert errors == []


def test_sample_ratio_mismatch_is_a_banner(browser: Browser, site: Any) -> None:  # noqa: F811
    page, errors = opened(browser, site, f"/experiments?experiment={SKEWED}&{site[2]}")
    report = api(site, f"/v1/experiments/{SKEWED}")
    assert report["srm"]["mismatch"] is True
    assert page.locator("#srm-banner").inner_text() == report["srm"]["banner"]
    assert page.locator("#verdict").inner_text() == report["verdict"].replace("_", " ")
    # The list of experiments links to both.
    names = page.locator("#experiment-list a").all_inner_texts()
    assert [n.split(" · ")[0] for n in names] == sorted([EXPERIMENT, SKEWED])
    assert errors == []


def test_unknown_control_is_explained(browser: Browser, site: Any) -> None:  # noqa: F811
    page, errors = opened(
        browser, site, f"/experiments?experiment={EXPERIMENT}&control=Z&{site[2]}"
    )
    assert "'Z'" in page.locator("#experiment-problem").inner_text()
    assert errors == []


def test_retention_page_draws_the_cohorts_of_the_api(browser: Browser, site: Any) -> None:  # noqa: F811
    page, errors = opened(browser, site, f"/retention?period=day&{site[2]}")
    answer = api(site, "/v1/analytics/retention", period="day")
    cohorts = answer["cohorts"]
    assert len(cohorts) >= DAYS - 1
    rows = page.locator("#cohorts tbody tr")
    assert rows.count() == len(cohorts)
    for row, cohort in zip(rows.all(), cohorts, strict=True):
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == cohort["cohort"]
        assert numbers(cells[1:2]) == [cohort["users"]]
        d1 = cohort["d1"]
        assert cells[2] == ("—" if d1 is None else f"{d1 * 100:.1f}%")
    assert charts_drawn(page) == {"Share of each cohort active again": 1}
    assert errors == []


def test_funnel_page_defaults_to_the_features_in_order(browser: Browser, site: Any) -> None:  # noqa: F811
    page, errors = opened(browser, site, f"/funnels?{site[2]}")
    steps = page.locator("#funnel-steps").input_value()
    # The simulator's sessions walk search → summarize → export, with chat anywhere.
    walked = [s for s in steps.split(",") if s != "feature:chat"]
    assert walked == ["feature:search", "feature:summarize", "feature:export"]
    answer = api(site, "/v1/analytics/funnel", steps=steps, window="1h")
    users = numbers(
        [r.locator("td").nth(1).inner_text() for r in page.locator("#funnel tr").all()[1:]]
    )
    assert users == [s["users"] for s in answer["steps"]]
    assert users[0] > users[1] > users[2] > 0
    assert charts_drawn(page) == {"Users reaching each step": 1}
    assert errors == []


@pytest.mark.parametrize(
    ("query", "named"),
    [("steps=feature:search", "two steps"), ("steps=colour:red,feature:x", "unknown field"),
     ("steps=feature:a,feature:b&window=200d", "window")],
)  # fmt: skip
def test_bad_funnel_is_explained_on_the_page(
    browser: Browser,  # noqa: F811
    site: Any,
    query: str,
    named: str,
) -> None:
    page, errors = opened(browser, site, f"/funnels?{query}&{site[2]}")
    assert named in page.locator("#funnel-problem").inner_text()
    assert page.locator("#funnel").count() == 0
    assert errors == []


def test_adoption_page_shows_sessions_and_features_of_the_api(browser: Browser, site: Any) -> None:  # noqa: F811
    page, errors = opened(browser, site, f"/adoption?period=week&{site[2]}")
    sessions = api(site, "/v1/analytics/sessions", period="week")
    adoption = api(site, "/v1/analytics/adoption", period="week")
    rows = [r.locator("td").all_inner_texts() for r in page.locator("#periods tbody tr").all()]
    assert [r[0] for r in rows] == [p["t"] for p in sessions["periods"]]
    assert [numbers([r[1], *r[5:]]) for r in rows] == [
        [p["sessions"], p["active_users"], p["new_users"], p["returning_users"], p["churned_users"]]
        for p in sessions["periods"]
    ]
    features = {
        r.locator("td").first.inner_text(): numbers(r.locator("td").all_inner_texts()[1:2])[0]
        for r in page.locator("#features tbody tr").all()
    }
    assert features == {
        f["feature"]: sum(p["calls"] for p in f["periods"]) for f in adoption["features"]
    }
    assert set(features) >= {"chat", "search", "summarize", "export"}
    drawn = charts_drawn(page)
    assert len(drawn) == 5 and all(drawn.values()), drawn
    assert errors == []

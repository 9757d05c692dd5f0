"""Spend forecasts and budgets on known daily spend: the forecast matches statsmodels fitted
here on the same series, recovers its trend and weekly season, and its intervals cover
held-out days at about their rate; budgets add up the period's spend and alert."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from conftest import Server, new_project_key
from test_alerts import evaluate, put, server  # noqa: F401 - the module's server, no evaluator

DAYS = 84
HELD_OUT = 28
SEASON = np.array([0.0, 6.0, 9.0, 7.0, 3.0, -10.0, -15.0])


def _truth(t: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return 60 + 0.4 * t + SEASON[t % 7]


def _daily_calls(values: np.ndarray[Any, Any], first_day: datetime, **fields: Any) -> list[Any]:
    """One call a day with the day's spend as its reported cost, at 01:00."""
    return [
        {"model_id": "m", "latency_ms": 5, "cost_usd": round(float(v), 6), **fields,
         "ts": (first_day + timedelta(days=i, hours=1)).isoformat()}
        for i, v in enumerate(values)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def series(server: Server) -> dict[str, Any]:  # noqa: F811
    key = new_project_key(server, admin=True)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=DAYS)
    t = np.arange(DAYS)
    y = np.round(_truth(t) + np.random.default_rng(3).normal(0, 2.0, DAYS), 6)
    with server.client(key) as http:
        assert http.post("/v1/events", json=_daily_calls(y, first)).status_code == 202
        server.wait_loaded()
    return {"key": key, "y": y, "first": first, "today": today}


def test_forecast_matches_statsmodels_and_covers_held_out_days(
    server: Server,  # noqa: F811
    series: dict[str, Any],
) -> None:
    y, first = series["y"], series["first"]
    fitted = DAYS - HELD_OUT
    cut = first + timedelta(days=fitted)
    with server.client(series["key"]) as http:
        params = {"from": first.isoformat(), "to": cut.isoformat(), "horizon": f"{HELD_OUT}d"}
        answer = http.get("/v1/costs/forecast", params=params).json()
    [group] = answer["groups"]
    assert group["method"] == "holt-winters" and group["note"] is None
    assert [d["spend"] for d in group["history"]] == pytest.approx(y[:fitted])

    index = pd.date_range(first.date(), periods=fitted, freq="D")
    model = ETSModel(pd.Series(y[:fitted], index=index), error="add", trend="add",
                     seasonal="add", seasonal_periods=7).fit(disp=False)  # fmt: skip
    expected = model.get_prediction(start=fitted, end=DAYS - 1).summary_frame(alpha=0.05)
    got = np.array([d["spend"] for d in group["days"]])
    assert got == pytest.approx(expected["mean"].to_numpy(), rel=1e-6)
    bounds = np.array([d["ci95"] for d in group["days"]])
    assert bounds == pytest.approx(expected[["pi_lower", "pi_upper"]].to_numpy(), rel=1e-6)
    # The known trend and season are recovered: within a few noise s.d. of the truth.
    truth = _truth(np.arange(fitted, DAYS))
    assert np.abs(got - truth).max() < 4.0
    held = y[fitted:]
    inside = {
        level: np.mean([lo <= v <= hi for v, (lo, hi) in
                        zip(held, [d[f"ci{level}"] for d in group["days"]], strict=True)])
        for level in (80, 95)
    }  # fmt: skip
    assert 0.85 <= inside[95] <= 1.0
    assert 0.6 <= inside[80] <= 0.97
    assert inside[80] <= inside[95]


def test_short_history_falls_back_to_seasonal_naive_and_says_so(
    server: Server,  # noqa: F811
    series: dict[str, Any],
) -> None:
    y, first = series["y"], series["first"]
    with server.client(series["key"]) as http:
        params = {"from": first.isoformat(), "to": (first + timedelta(days=10)).isoformat(),
                  "horizon": "9d"}  # fmt: skip
        [group] = http.get("/v1/costs/forecast", params=params).json()["groups"]
    assert group["method"] == "seasonal-naive" and "10 days" in group["note"]
    # Each day as the same weekday in the last week of history.
    last_week = y[3:10]
    assert [d["spend"] for d in group["days"]] == pytest.approx(
        [last_week[i % 7] for i in range(9)]
    )
    residuals = y[7:10] - y[0:3]
    sigma = np.sqrt(np.mean(residuals**2))
    first_day = group["days"][0]
    assert first_day["ci95"][1] - first_day["spend"] == pytest.approx(1.959964 * sigma, rel=1e-5)


def test_month_end_projection_adds_the_month_so_far(
    server: Server,  # noqa: F811
    series: dict[str, Any],
) -> None:
    y, today = series["y"], series["today"]
    with server.client(series["key"]) as http:
        [group] = http.get("/v1/costs/forecast", params={"horizon": "7d"}).json()["groups"]
    before_today = today.day - 1
    spent = float(y[DAYS - before_today :].sum()) if before_today else 0.0
    assert group["month_to_date"] == pytest.approx(spent)
    left = calendar.monthrange(today.year, today.month)[1] - today.day + 1
    # Consistent with its own days: the projection is what was spent plus their sum.
    with server.client(series["key"]) as http:
        longer = http.get("/v1/costs/forecast", params={"horizon": f"{left}d"}).json()
    days = longer["groups"][0]["days"]
    assert group["month_end"]["value"] == pytest.approx(spent + sum(d["spend"] for d in days))
    low, high = group["month_end"]["ci95"]
    assert low <= group["month_end"]["value"] <= high


def test_budgets_add_up_spend_and_alert(server: Server) -> None:  # noqa: F811
    key = new_project_key(server, admin=True)
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    calls = []
    for d in range(now.day - 1):  # each earlier day of the month: $10 search, $5 chat
        ts = month_start + timedelta(days=d, hours=2)
        calls += [{"model_id": "m", "latency_ms": 5, "cost_usd": 10.0, "feature": "search",
                   "ts": ts.isoformat()},
                  {"model_id": "m", "latency_ms": 5, "cost_usd": 5.0, "feature": "chat",
                   "ts": ts.isoformat()}]  # fmt: skip
    calls.append({"model_id": "m", "latency_ms": 5, "cost_usd": 4.0, "feature": "search",
                  "ts": (now - timedelta(minutes=1)).isoformat()})  # fmt: skip
    calls.append({"model_id": "unknown-model", "latency_ms": 5, "feature": "search",
                  "ts": (now - timedelta(minutes=1)).isoformat()})  # fmt: skip
    search = 10.0 * (now.day - 1) + 4.0
    with server.client(key) as http:
        assert http.post("/v1/events", json=calls).status_code == 202
        server.wait_loaded()
        small = http.put("/v1/costs/budgets/search", json={
            "scope": "feature:search", "amount_usd": search / 0.9}).json()  # fmt: skip
        daily = http.put("/v1/costs/budgets/today", json={
            "scope": "project", "period": "daily", "amount_usd": 100}).json()  # fmt: skip
        listed = {b["name"]: b for b in http.get("/v1/costs/budgets").json()["budgets"]}
    assert small["spent_usd"] == pytest.approx(search)
    assert small["share"] == pytest.approx(0.9)
    assert small["levels_reached"] == [0.5, 0.8]
    assert small["unpriced_calls"] == 1
    assert small["projected_usd"] >= small["spent_usd"]
    # The history is the days since the first spend, not the 90-day window's zeros.
    days = now.day - 1
    method = ("holt-winters" if days >= 21 else "seasonal-naive" if days >= 8
              else "naive" if days >= 2 else "none")  # fmt: skip
    assert small["forecast_method"] == method
    assert daily["spent_usd"] == pytest.approx(4.0) and daily["period_end"] == f"{now:%Y-%m-%d}"
    assert set(listed) == {"search", "today"}

    put(server, key, "/v1/alerts/rules/b80", {"name": "b80", "kind": "budget", "metric": "search",
                                             "comparison": ">=", "critical": 0.8})  # fmt: skip
    put(server, key, "/v1/alerts/rules/b100", {"name": "b100", "kind": "budget",
                                              "metric": "search", "comparison": ">=",
                                              "critical": 1.0})  # fmt: skip
    made = {t["rule_id"]: t for t in evaluate(server, key)}
    assert made["b80"]["to"] == "firing" and "b100" not in made
    with server.client(key) as http:
        alert = next(a for a in http.get("/v1/alerts").json()["alerts"] if a["rule_id"] == "b80")
    assert alert["value"] == pytest.approx(0.9)
    assert alert["cause"]["spent_usd"] == pytest.approx(search)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/costs/budgets/b", {"amount_usd": 10}, "scope"),
        ("/v1/costs/budgets/b", {"scope": "team:x", "amount_usd": 10}, "scope"),
        ("/v1/costs/budgets/b", {"scope": "project", "amount_usd": -5}, "amount_usd"),
        ("/v1/costs/budgets/b", {"scope": "project", "amount_usd": 5, "period": "weekly"},
         "period"),
        ("/v1/costs/budgets/b", {"scope": "project", "amount_usd": 5, "alert_at": [0]},
         "alert_at"),
        ("/v1/costs/budgets/b%20c", {"scope": "project", "amount_usd": 5}, "name"),
    ],
)  # fmt: skip
def test_bad_budgets_are_422(
    server: Server,  # noqa: F811
    series: dict[str, Any],
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    with server.client(series["key"]) as http:
        r = http.put(path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field


def test_bad_forecast_and_budget_rule_requests(
    server: Server,  # noqa: F811
    series: dict[str, Any],
) -> None:
    with server.client(series["key"]) as http:
        r = http.get("/v1/costs/forecast", params={"horizon": "400d"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "horizon"
        r = http.get("/v1/costs/forecast", params={"horizon": "soon"})
        assert r.status_code == 400 and r.json()["detail"][0]["field"] == "horizon"
        r = http.get("/v1/costs/forecast", params={"group_by": "region"})
        assert r.status_code == 400 and r.json()["detail"][0]["field"] == "group_by"
        assert http.delete("/v1/costs/budgets/nope").status_code == 404
        r = http.post("/v1/alerts/rules", json={"name": "x", "kind": "budget", "metric": "b",
                                                "critical": 1, "group_by": ["model_id"]})  # fmt: skip
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "filters"

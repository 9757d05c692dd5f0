"""Drift and data-quality rules: kinds of the alert registry, evaluated and backtested like
metric rules; values recomputed here with scipy from the events sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import Server, new_project_key
from test_alerts import evaluate, put, server  # noqa: F401 - the module's server, no evaluator
from test_drift import js_distance


def _events(now: datetime) -> list[dict[str, Any]]:
    """Six hours of models a and b half and half, then a last hour where c takes a third."""
    events = []
    for i in range(600):
        ts = now - timedelta(hours=6) + timedelta(seconds=i * 24)  # -6h .. -2h
        events.append({"model_id": "ab"[i % 2], "latency_ms": 100 + i % 50, "ts": ts.isoformat()})
    for i in range(300):
        ts = now - timedelta(minutes=50) + timedelta(seconds=i * 8)  # -50m .. -10m
        events.append({"model_id": "abc"[i % 3], "latency_ms": 100 + i % 50, "ts": ts.isoformat()})
    return events


@pytest.fixture(scope="module")
def shifted(server: Server) -> dict[str, Any]:  # noqa: F811
    key = new_project_key(server, admin=True)
    now = datetime.now(UTC)
    events = _events(now)
    with server.client(key) as http:
        assert http.post("/v1/events", json=events).status_code == 202
    server.wait_loaded()
    return {"key": key, "now": now, "events": events}


def test_drift_rule_fires_with_its_cause_and_backtests(
    server: Server,  # noqa: F811
    shifted: dict[str, Any],
) -> None:
    key = shifted["key"]
    rule = {"name": "mix", "kind": "drift", "metric": "model_id", "window": "1h",
            "critical": 0.1, "params": {"baseline": "6h"}}  # fmt: skip
    steady = {**rule, "name": "latency", "metric": "latency_ms"}
    put(server, key, "/v1/alerts/rules/mix", rule)
    put(server, key, "/v1/alerts/rules/latency", steady)
    made = {t["rule_id"]: t for t in evaluate(server, key)}
    assert made["mix"]["to"] == "firing" and "latency" not in made
    events = shifted["events"]
    expected = js_distance(
        [e["model_id"] for e in events[:600]], [e["model_id"] for e in events[600:]]
    )
    with server.client(key) as http:
        current = {a["rule_id"]: a for a in http.get("/v1/alerts").json()["alerts"]}
        assert current["mix"]["value"] == pytest.approx(expected, abs=1e-5)
        cause = current["mix"]["cause"]["columns"]
        assert [(c["column"], c["test"]) for c in cause] == [("model_id", "jensenshannon")]
        # Replayed hourly over the last three hours: only the last window holds model c.
        now = datetime.now(UTC)
        r = http.post("/v1/alerts/rules/backtest", json={
            "rule": rule, "from": (now - timedelta(hours=3)).isoformat(), "to": now.isoformat()})  # fmt: skip
        assert r.status_code == 200, r.text
        result = r.json()
    values = [p["value"] for p in result["series"][0]["points"]]
    assert result["evaluations"] == len(values) >= 3
    assert values[-1] == pytest.approx(expected, abs=1e-5)
    assert result["fired"] == 1


def test_quality_rule_fires_on_stale_data(server: Server, shifted: dict[str, Any]) -> None:  # noqa: F811
    key = shifted["key"]
    rule = {"name": "stale", "kind": "quality", "metric": "freshness_s", "window": "2h",
            "critical": 300}  # fmt: skip
    put(server, key, "/v1/alerts/rules/stale", rule)
    made = {t["rule_id"]: t for t in evaluate(server, key)}
    newest = max(datetime.fromisoformat(e["ts"]) for e in shifted["events"])
    age = (datetime.now(UTC) - newest).total_seconds()
    assert made["stale"]["to"] == "firing"
    with server.client(key) as http:
        current = {a["rule_id"]: a for a in http.get("/v1/alerts").json()["alerts"]}
    assert current["stale"]["value"] == pytest.approx(age, abs=30)
    cause = current["stale"]["cause"]
    assert cause["check"] == "freshness"
    assert cause["evidence"]["newest"].startswith(f"{newest:%Y-%m-%dT%H:%M:%S}")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "drift", "metric": "vibes"}, "metric"),
        ({"kind": "drift", "metric": "latency_ms", "comparison": "<"}, "comparison"),
        ({"kind": "drift", "metric": "latency_ms", "params": {"test": "ks"}}, "params.test"),
        ({"kind": "drift", "metric": "model_id", "params": {"test": "wasserstein"}}, "params.test"),
        (
            {"kind": "drift", "metric": "latency_ms", "params": {"baseline": "1m"}},
            "params.baseline",
        ),
        ({"kind": "drift", "metric": "latency_ms", "group_by": ["model_id"]}, "group_by"),
        ({"kind": "quality", "metric": "vibes"}, "metric"),
        ({"kind": "quality", "metric": "gaps", "params": {"gap": "1s"}}, "params.gap"),
        ({"kind": "quality", "metric": "gaps", "params": {"every": 1}}, "params"),
    ],
)
def test_bad_monitor_rules_are_422(
    server: Server,  # noqa: F811
    shifted: dict[str, Any],
    body: dict[str, Any],
    field: str,
) -> None:
    with server.client(shifted["key"]) as http:
        r = http.post("/v1/alerts/rules", json={"name": "bad", "critical": 1, **body})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field

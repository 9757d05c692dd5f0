"""Alert rules against a real server: the statistical gate, states, notifications through
real local receivers (signed webhook, Slack and PagerDuty formats, SMTP), silences, the
cause of a firing alert, bad rules. Expected values are computed here from the events sent."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pytest
import yaml

from alert_receivers import Mailbox, Receiver, eventually
from conftest import Server, new_project_key, run_cli

SECRET = "s3cret-signing-key"


def wilson_low(k: int, n: int, confidence: float) -> float:
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    return (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (
        1 + z * z / n
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Rules are evaluated only when a test asks (POST /v1/alerts/evaluate, as
    `llmpulse alerts eval` does): every transition happens where the test expects it."""
    srv = Server(tmp_path_factory.mktemp("alerts") / "data", "--no-alerts").start()
    yield srv
    srv.stop()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


def send(server: Server, key: str, events: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    for i, e in enumerate(events):
        e.setdefault("ts", (now - timedelta(seconds=10, milliseconds=i)).isoformat())
    with server.client(key) as http:
        assert http.post("/v1/events", json=events).status_code == 202
    server.wait_loaded()


def put(server: Server, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with server.client(key) as http:
        r = http.put(path, json=body)
        assert r.status_code == 200, r.text
        return dict(r.json())


def evaluate(server: Server, key: str) -> list[dict[str, Any]]:
    with server.client(key) as http:
        r = http.post("/v1/alerts/evaluate")
        assert r.status_code == 200, r.text
        return list(r.json()["transitions"])


def alerts(server: Server, key: str) -> dict[str, dict[str, Any]]:
    """Current instances by rule id (and group, for grouped rules)."""
    with server.client(key) as http:
        found = http.get("/v1/alerts").json()["alerts"]
    return {a["rule_id"] + "".join(f"/{v}" for v in a["group"].values()): a for a in found}


def calls(model: str, n: int, errors: int = 0, latency: float = 100.0) -> list[dict[str, Any]]:
    return [{"model_id": model, "latency_ms": latency, "user_id": f"u{i % 3}",
             **({"status": "error", "error_type": "rate_limit"} if i < errors else {})}
            for i in range(n)]  # fmt: skip


def test_wilson_gate_pages_on_evidence_not_on_noise(server: Server, admin_key: str) -> None:
    """Four failures in five calls (80 %) do not page a 50 % rule at 95 % confidence: the
    Wilson lower bound is 38 %; 40 in 200 (20 %) page a 10 % rule: its bound is 15 %."""
    key = admin_key
    gated = {"metric": "error_rate", "every": "1s", "window": "5m", "confidence": 0.95}
    put(server, key, "/v1/alerts/rules/few", {**gated, "name": "few", "critical": 0.5,
                                               "filters": {"model_id": ["few"]}})  # fmt: skip
    put(server, key, "/v1/alerts/rules/many", {**gated, "name": "many", "critical": 0.1,
                                                "filters": {"model_id": ["many"]}})  # fmt: skip
    raw = {"metric": "error_rate", "every": "1s", "window": "5m", "name": "raw", "critical": 0.5,
           "filters": {"model_id": ["few"]}}  # fmt: skip
    put(server, key, "/v1/alerts/rules/raw", raw)
    send(server, key, calls("few", 5, errors=4) + calls("many", 200, errors=40))
    evaluate(server, key)
    now = alerts(server, key)
    assert now["raw"]["state"] == "firing"  # without the gate, 4 of 5 would page
    assert now["few"]["state"] == "ok"
    assert now["few"]["bound"] == pytest.approx(wilson_low(4, 5, 0.95), rel=1e-9)
    assert now["few"]["bound"] < 0.5 < now["few"]["value"] == 0.8
    assert now["many"]["state"] == "firing" and now["many"]["severity"] == "critical"
    assert now["many"]["bound"] == pytest.approx(wilson_low(40, 200, 0.95), rel=1e-9)
    assert now["many"]["value"] == pytest.approx(0.2)
    with server.client(key) as http:
        history = http.get("/v1/alerts/history", params={"rule_id": "many"}).json()["events"]
    assert history[0]["to_state"] == "firing"
    assert history[0]["bound"] == pytest.approx(wilson_low(40, 200, 0.95), rel=1e-9)


def test_signed_webhook_with_cause_then_resolved(
    server: Server, admin_key: str, hook: Receiver
) -> None:
    """A grouped p95 rule fires for the slow model only; the webhook is signed with the
    channel's secret, carries the value, the slice that explains the change and example
    requests; raising the threshold resolves it, and that is sent too."""
    key = admin_key
    put(server, key, "/v1/alerts/channels/ops", {"name": "ops", "type": "webhook",
                                                 "url": f"{hook.url}/hook", "secret": SECRET})  # fmt: skip
    rule = {"name": "slow", "metric": "latency_p95", "group_by": ["model_id"], "critical": 500,
            "every": "1s", "window": "5m", "channels": ["ops"]}  # fmt: skip
    put(server, key, "/v1/alerts/rules/slow", rule)
    rng = np.random.default_rng(7)
    slow = rng.lognormal(6.9, 0.3, 300)  # ~1 s
    fast = rng.lognormal(4.6, 0.3, 300)  # ~100 ms
    events = [{"model_id": "slow-model", "latency_ms": float(v), "region": "eu" if i % 4 else "us"}
              for i, v in enumerate(slow)]  # fmt: skip
    events += [{"model_id": "fast-model", "latency_ms": float(v), "region": "eu"} for v in fast]
    send(server, key, events)
    made = evaluate(server, key)
    assert [(t["group"], t["to"]) for t in made] == [({"model_id": "slow-model"}, "firing")]

    hook.wait_for(1)
    path, headers, raw, body = hook.requests[0]
    assert path == "/hook"
    expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-LLMPulse-Signature"] == expected
    assert body["status"] == "firing" and body["severity"] == "critical"
    assert body["group"] == {"model_id": "slow-model"}
    assert body["value"] == pytest.approx(np.percentile(slow, 95), rel=0.01)
    assert body["rule"]["id"] == "slow" and body["threshold"] == 500
    # Every slow call is over 500 ms now and none was before: the region with most of them.
    assert body["cause"]["dimension"] in ("region", "user_id", "provider", "environment")
    assert len(body["examples"]) == 5
    with server.client(key) as http:
        for example in body["examples"]:
            assert example["url"].endswith(f"/requests?q={example['event_id']}")
            stored = http.get(f"/v1/requests/{example['event_id']}").json()
            assert stored["model_id"] == "slow-model" and stored["latency_ms"] > 500
    assert "prompt" not in raw.decode() and "completion" not in raw.decode()

    put(server, key, "/v1/alerts/rules/slow", {**rule, "critical": 5000})
    evaluate(server, key)
    resolved = hook.wait_for(2)[1]
    assert resolved["status"] == "resolved" and resolved["reason"] == "resolved"
    with server.client(key) as http:
        history = http.get("/v1/alerts/history").json()["events"]
    assert [e["to_state"] for e in history] == ["resolved", "firing"]
    eventually(lambda: _delivered(server, key))


def _delivered(server: Server, key: str) -> bool:
    with server.client(key) as http:
        history = http.get("/v1/alerts/history").json()["events"]
    return all(e["deliveries"] and e["deliveries"][0]["ok"] for e in history)


def test_pending_for_then_firing_and_silences(
    server: Server, admin_key: str, hook: Receiver
) -> None:
    key = admin_key
    put(server, key, "/v1/alerts/channels/ops", {"name": "ops", "type": "webhook", "url": hook.url})
    put(server, key, "/v1/alerts/rules/busy", {"name": "busy", "metric": "requests", "warning": 10,
                                                "every": "1s", "for": "2s", "channels": ["ops"],
                                                "group_by": ["model_id"]})  # fmt: skip
    send(server, key, calls("m1", 20) + calls("m2", 20))
    with server.client(key) as http:
        r = http.post("/v1/alerts/silences", json={"rule_id": "busy",
                                                   "group": {"model_id": "m2"}, "ends_at": "1h"})  # fmt: skip
        assert r.status_code == 201, r.text
    assert evaluate(server, key) == []
    assert {a["state"] for a in alerts(server, key).values()} == {"pending"}
    time.sleep(2.1)
    made = evaluate(server, key)
    assert sorted((t["group"]["model_id"], t["to"], t["silenced"]) for t in made) == [
        ("m1", "firing", False), ("m2", "firing", True)
    ]  # fmt: skip
    assert [b["group"] for b in hook.wait_for(1)] == [{"model_id": "m1"}]
    time.sleep(1)
    assert len(hook.requests) == 1, "the silenced instance was sent"
    assert alerts(server, key)["busy/m2"]["silenced"] is True


@pytest.mark.parametrize(("mode", "state"), [("ok", "ok"), ("no_data", "no_data"),
                                             ("alert", "firing")])  # fmt: skip
def test_no_data_modes(server: Server, admin_key: str, mode: str, state: str) -> None:
    put(server, admin_key, "/v1/alerts/rules/quiet", {
        "name": "quiet", "metric": "latency_p95", "critical": 1000, "every": "1s",
        "no_data": mode, "min_requests": 10,
    })  # fmt: skip
    send(server, admin_key, calls("m", 3))  # fewer than min_requests: no data
    evaluate(server, admin_key)
    assert alerts(server, admin_key)["quiet"]["state"] == state


def test_channel_formats_slack_pagerduty_email(server: Server, admin_key: str) -> None:
    slack, pagerduty, mailbox = Receiver(200), Receiver(202), Mailbox()
    key = admin_key
    try:
        put(server, key, "/v1/alerts/channels/slack", {"name": "s", "type": "slack",
                                                       "url": f"{slack.url}/services/T/B/X"})  # fmt: skip
        put(server, key, "/v1/alerts/channels/pd", {"name": "p", "type": "pagerduty",
                                                    "url": f"{pagerduty.url}/v2/enqueue",
                                                    "routing_key": "R0UTING"})  # fmt: skip
        put(server, key, "/v1/alerts/channels/mail", {"name": "m", "type": "email",
                                                      "smtp_host": "127.0.0.1",
                                                      "smtp_port": mailbox.port,
                                                      "email_from": "llmpulse@x.test",
                                                      "email_to": ["oncall@x.test"]})  # fmt: skip
        rule = {"name": "errors", "metric": "error_rate", "critical": 0.2, "every": "1s",
                "channels": ["slack", "pd", "mail"]}  # fmt: skip
        put(server, key, "/v1/alerts/rules/errors", rule)
        send(server, key, calls("m", 10, errors=5))
        evaluate(server, key)
        message = slack.wait_for(1)[0]
        assert message["text"].startswith("CRITICAL errors: error_rate 0.5 > 0.2")
        assert message["blocks"][0]["type"] == "section"
        trigger = pagerduty.wait_for(1)[0]
        assert trigger["routing_key"] == "R0UTING" and trigger["event_action"] == "trigger"
        assert trigger["payload"]["severity"] == "critical"
        assert trigger["payload"]["source"] == "llmpulse"
        mail = message_from_bytes(mailbox.wait_for(1)[0].content)
        assert mail["To"] == "oncall@x.test"
        assert mail["Subject"].startswith("CRITICAL errors")
        put(server, key, "/v1/alerts/rules/errors", {**rule, "critical": 0.9})
        evaluate(server, key)
        resolve = pagerduty.wait_for(2)[1]
        assert resolve["event_action"] == "resolve"
        assert resolve["dedup_key"] == trigger["dedup_key"]
    finally:
        slack.stop()
        pagerduty.stop()
        mailbox.stop()


def test_failing_channel_is_retried_recorded_and_marked(server: Server, admin_key: str) -> None:
    """A webhook answering 500 is tried 3 times per alert and recorded as failed; after 5
    failed deliveries in a row the channel is marked failing; evaluation goes on."""
    broken = Receiver(500)
    key = admin_key
    try:
        put(server, key, "/v1/alerts/channels/broken", {"name": "b", "type": "webhook",
                                                        "url": broken.url})  # fmt: skip
        for n in range(5):
            put(server, key, f"/v1/alerts/rules/r{n}", {"name": f"r{n}", "metric": "requests",
                                                       "warning": 0, "every": "1s",
                                                       "channels": ["broken"]})  # fmt: skip
        send(server, key, calls("m", 3))
        made = evaluate(server, key)
        assert sorted(t["rule_id"] for t in made) == [f"r{n}" for n in range(5)]
        broken.wait_for(15, timeout=60)

        def failing() -> bool:
            with server.client(key) as http:
                channel = http.get("/v1/alerts/channels").json()["channels"][0]
            return bool(channel["failing"]) and channel["consecutive_failures"] == 5

        eventually(failing, timeout=60)
        with server.client(key) as http:
            history = http.get("/v1/alerts/history").json()["events"]
        deliveries = [d for e in history for d in e["deliveries"]]
        assert len(deliveries) == 5
        assert all(not d["ok"] and d["attempts"] == 3 and "500" in d["error"] for d in deliveries)
        test = http_post(server, key, "/v1/alerts/channels/broken/test")
        assert test["ok"] is False and "500" in test["error"]
    finally:
        broken.stop()


def http_post(server: Server, key: str, path: str) -> dict[str, Any]:
    with server.client(key) as http:
        r = http.post(path)
        assert r.status_code == 200, r.text
        return dict(r.json())


def test_background_evaluation_notifies_without_being_asked(
    fresh_server: Server, hook: Receiver
) -> None:
    """Inside `llmpulse serve` rules are evaluated on their own interval: bad calls are
    notified with nobody asking."""
    server = fresh_server.start()
    key = new_project_key(server, admin=True)
    put(server, key, "/v1/alerts/channels/ops", {"name": "ops", "type": "webhook", "url": hook.url})
    put(server, key, "/v1/alerts/rules/bg", {"name": "bg", "metric": "error_rate", "critical": 0.5,
                                              "every": "1s", "channels": ["ops"]})  # fmt: skip
    send(server, key, calls("m", 4, errors=4))
    body = hook.wait_for(1, timeout=30)[0]
    assert body["status"] == "firing" and body["rule"]["id"] == "bg"
    assert body["value"] == 1.0


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"metric": "vibes", "critical": 1}, "metric", "unknown metric 'vibes'"),
        ({"metric": "error_rate"}, "critical", "give a warning or a critical threshold"),
        ({"metric": "error_rate", "warning": 0.5, "critical": 0.1}, "critical",
         "must be at or above warning for a '>' rule"),
        ({"metric": "tokens_per_s", "comparison": "<", "warning": 5, "critical": 10},
         "critical", "must be at or below warning"),
        ({"metric": "error_rate", "critical": 1, "group_by": ["colour"]}, "group_by",
         "unknown dimension 'colour'"),
        ({"metric": "error_rate", "critical": 1, "filters": {"colour": ["x"]}}, "filters",
         "unknown dimension 'colour'"),
        ({"metric": "error_rate", "critical": 1, "channels": ["nope"]}, "channels",
         "no channel 'nope'"),
        ({"metric": "error_rate", "critical": 1, "window": "1m", "every": "5m"}, "window",
         "must not be shorter than the evaluation interval"),
        ({"metric": "error_rate", "critical": 1, "window": "30s"}, "window", "from 1m to 7d"),
        ({"metric": "error_rate", "critical": 1, "window": "soon"}, "window", "not a duration"),
        ({"metric": "latency_p95", "critical": 1, "confidence": 0.95}, "confidence",
         "rate metrics only"),
        ({"metric": "error_rate", "critical": 1, "comparison": "=="}, "comparison", "Input should be"),
        ({"metric": "error_rate", "critical": 1, "colour": "red"}, "colour", "Extra inputs"),
        ({"metric": "error_rate", "critical": 1, "kind": "astrology"}, "kind",
         "unknown rule kind 'astrology'"),
    ],
)  # fmt: skip
def test_bad_rules_are_422_naming_the_field(
    server: Server, admin_key: str, body: dict[str, Any], field: str, message: str
) -> None:
    with server.client(admin_key) as http:
        r = http.post("/v1/alerts/rules", json={"name": "bad", **body})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["field"] == field
        assert message in r.json()["detail"][0]["error"]
        assert http.get("/v1/alerts/rules").json()["rules"] == []


def test_bad_channels_and_silences(server: Server, admin_key: str) -> None:
    with server.client(admin_key) as http:
        r = http.put("/v1/alerts/channels/x", json={"name": "x", "type": "webhook"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "url"
        r = http.put("/v1/alerts/channels/x", json={"name": "x", "type": "pager"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "type"
        r = http.post("/v1/alerts/silences", json={"ends_at": "2001-01-01T00:00:00Z"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "ends_at"
        r = http.post("/v1/alerts/silences", json={"ends_at": "whenever"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "ends_at"
        assert http.delete("/v1/alerts/rules/none").status_code == 404
        r = http.post("/v1/alerts/rules", json={"name": "dup", "metric": "requests", "warning": 1})
        assert r.status_code == 201
        r = http.post("/v1/alerts/rules", json={"name": "dup", "metric": "requests", "warning": 1})
        assert r.status_code == 409 and "PUT /v1/alerts/rules/dup" in r.json()["error"]


def test_backtest_replays_history_as_the_evaluator_would(server: Server, admin_key: str) -> None:
    """Six past hours with known error rates; a draft rule over 1-hour windows evaluated
    hourly: every step's value and every firing period, computed here with numpy."""
    key = admin_key
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rates = [0.05, 0.3, 0.3, 0.05, 0.4, 0.05]
    rng = np.random.default_rng(3)
    events, stamps, failed = [], [], []
    for k, rate in enumerate(rates):
        start = hour - timedelta(hours=6 - k)
        for i in range(200):
            ts = start + timedelta(seconds=float(rng.uniform(0, 3600)))
            bad = bool(i < rate * 200)
            events.append({"model_id": "m", "latency_ms": 10, "ts": ts.isoformat(),
                           **({"status": "error"} if bad else {})})  # fmt: skip
            stamps.append(ts.timestamp())
            failed.append(bad)
    send(server, key, events)
    rule = {"name": "draft", "metric": "error_rate", "critical": 0.2, "window": "1h",
            "every": "1h", "channels": ["not-checked-here"]}  # fmt: skip
    frm, to = hour - timedelta(hours=6), hour
    with server.client(key) as http:
        r = http.post("/v1/alerts/rules/backtest",
                      json={"from": frm.isoformat(), "to": to.isoformat(), "rule": rule})  # fmt: skip
        assert r.status_code == 200, r.text
        result = r.json()
        bad = http.post("/v1/alerts/rules/backtest", json={"rule": {**rule, "metric": "x"}})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "rule.metric"
    stamps_a, failed_a = np.array(stamps), np.array(failed)
    steps = np.arange(frm.timestamp(), to.timestamp() + 1, 3600)
    expected_values, state, fired = [], "ok", []
    for t in steps:
        inside = (stamps_a >= t - 3600) & (stamps_a < t)
        value = float(failed_a[inside].mean()) if inside.any() else None
        expected_values.append(value)
        breach = value is not None and value > 0.2
        if breach and state != "firing":
            fired.append([t, None])
            state = "firing"
        elif not breach and state == "firing":
            fired[-1][1] = t
            state = "ok"
    assert result["step"] == 3600 and result["evaluations"] == len(steps)
    points = result["series"][0]["points"]
    assert [p["value"] for p in points] == pytest.approx(expected_values)
    iso = [[datetime.fromtimestamp(a, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            None if b is None else datetime.fromtimestamp(b, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z")] for a, b in fired]  # fmt: skip
    assert [[e["fired_at"], e["resolved_at"]] for e in result["episodes"]] == iso
    assert result["fired"] == len(fired) == 2


def test_slo_budget_burn_rates_and_multiwindow_alerts(server: Server, admin_key: str) -> None:
    """A latency SLO (99 % under 800 ms over 7 days): 1,000 calls in the last hour, 50 of
    them slow, 20 of those in the last 5 minutes. Burn rates are the bad share over the
    1 % budget: 20 over 5 and 30 minutes, 5 over 1 h, 6 h and 3 d. Only the ticket alert
    (3 d and 6 h both above 2.8) fires; the budget is spent five times over."""
    key = admin_key
    now = datetime.now(UTC)
    recent = [now - timedelta(minutes=4) + timedelta(seconds=i * 1.8) for i in range(100)]
    older = [now - timedelta(minutes=50) + timedelta(seconds=i) for i in range(900)]
    events = [{"model_id": "m", "latency_ms": 1200.0 if i < 20 else 100.0, "ts": t.isoformat()}
              for i, t in enumerate(recent)]  # fmt: skip
    events += [{"model_id": "m", "latency_ms": 1500.0 if i < 30 else 90.0, "ts": t.isoformat()}
               for i, t in enumerate(older)]  # fmt: skip
    send(server, key, events)
    slo = {"name": "Latency SLO", "sli": "latency", "threshold": 800, "objective": 0.99,
           "period": "7d"}  # fmt: skip
    with server.client(key) as http:
        created = http.post("/v1/slos", json=slo)
        assert created.status_code == 201, created.text
        slo_id = created.json()["id"]
        assert slo_id == "latency-slo"
        evaluate(server, key)
        answer = http.get(f"/v1/slos/{slo_id}").json()
        bad = http.post("/v1/slos", json={**slo, "name": "x", "threshold": None})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "threshold"
        bad = http.post("/v1/slos", json={**slo, "name": "y", "objective": 1.5})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "objective"
    status = answer["status"]
    assert (status["calls"], status["bad"]) == (1000, 50)
    assert status["budget_remaining"] == pytest.approx(1 - 50 / (0.01 * 1000))
    expected = {"5m": 20.0, "30m": 20.0, "1h": 5.0, "6h": 5.0, "3d": 5.0}
    assert status["burn_rates"] == pytest.approx(expected)
    states = {a["rule_id"]: (a["state"], a["severity"]) for a in answer["alerts"]}
    assert states == {
        f"slo:{slo_id}:page-fast": ("ok", None),
        f"slo:{slo_id}:page-slow": ("ok", None),
        f"slo:{slo_id}:ticket": ("firing", "warning"),
    }
    ticket = alerts(server, key)[f"slo:{slo_id}:ticket"]
    assert ticket["value"] == pytest.approx(5.0) and ticket["threshold"] == 2.8
    assert answer["budget"][-1]["budget_remaining"] == pytest.approx(-4.0)


def test_starters_and_baseline_rules(server: Server, admin_key: str) -> None:
    """Starter rules are listed off; enabling one is a PUT. A rule against a baseline
    compares the window's value to the same metric over the 7 days before it: p95 three
    times its usual fires a 'twice its last 7 days' rule, cost sums are scaled to the
    window's length, and a quiet project fires the no-events starter."""
    key = admin_key
    with server.client(key) as http:
        starters = http.get("/v1/alerts/starters").json()["starters"]
        assert len(starters) == 5 and not any(s["enabled"] for s in starters)
        by_id = {s["id"]: s["rule"] for s in starters}
        put(server, key, "/v1/alerts/rules/starter-no-events", by_id["starter-no-events"])
        evaluate(server, key)
        assert alerts(server, key)["starter-no-events"]["state"] == "firing"
        assert {s["id"] for s in http.get("/v1/alerts/starters").json()["starters"]
                if s["enabled"]} == {"starter-no-events"}  # fmt: skip

    now = datetime.now(UTC)
    rng = np.random.default_rng(11)
    usual = rng.lognormal(4.6, 0.2, 2000)  # ~100 ms, over the 2 days before the window
    recent = rng.lognormal(5.7, 0.2, 200)  # ~300 ms, in the last 10 minutes
    events = [{"model_id": "m", "latency_ms": float(v), "cost_usd": 0.01,
               "ts": (now - timedelta(hours=1) - timedelta(seconds=i * 86)).isoformat()}
              for i, v in enumerate(usual)]  # fmt: skip
    events += [{"model_id": "m", "latency_ms": float(v), "cost_usd": 0.05,
                "ts": (now - timedelta(seconds=30 + i * 3)).isoformat()}
               for i, v in enumerate(recent)]  # fmt: skip
    send(server, key, events)
    put(server, key, "/v1/alerts/rules/starter-latency", by_id["starter-latency"])
    put(server, key, "/v1/alerts/rules/starter-cost", by_id["starter-cost"])
    evaluate(server, key)
    now_alerts = alerts(server, key)
    latency = now_alerts["starter-latency/m"]
    ratio = np.percentile(recent, 95) / np.percentile(usual, 95)
    assert latency["state"] == "firing" and latency["threshold"] == 2.0
    assert latency["value"] == pytest.approx(np.percentile(recent, 95), rel=0.02)
    assert latency["baseline"] == pytest.approx(np.percentile(usual, 95), rel=0.02)
    assert latency["value"] / latency["baseline"] == pytest.approx(ratio, rel=0.03)
    cost = now_alerts["starter-cost"]
    # The last hour cost 200 x 0.05 = 10 USD; an hour of the 7 days before cost
    # 2,000 x 0.01 / 168 = 0.119 USD: 84 times usual.
    assert cost["value"] == pytest.approx(10.0)
    assert cost["baseline"] == pytest.approx(2000 * 0.01 / 168)
    assert cost["state"] == "firing"
    with server.client(key) as http:
        bad = http.put("/v1/alerts/rules/b", json={**by_id["starter-cost"],
                                                   "params": {"baseline": "1m"}})  # fmt: skip
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "params.baseline"
        bad = http.put("/v1/alerts/rules/b", json={**by_id["starter-cost"], "params": {"x": 1}})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "params"


def test_cli_apply_eval_history_silence(
    server: Server, admin_key: str, hook: Receiver, tmp_path: Path
) -> None:
    """Rules kept in git: `alerts apply` makes the server match the file (again: no
    change; --prune: what the file lacks goes); eval, history, silence and rules print."""
    env = {**os.environ, "LLMPULSE_URL": server.url, "LLMPULSE_API_KEY": admin_key}
    spec = {
        "channels": {"ops": {"name": "ops", "type": "webhook", "url": hook.url}},
        "rules": {
            "errors": {"name": "Errors", "metric": "error_rate", "critical": 0.5,
                       "every": "1s", "channels": ["ops"]},
            "busy": {"name": "Busy", "metric": "requests", "warning": 1000, "every": "1s"},
        },
        "slos": {"ok-calls": {"name": "Calls succeed", "sli": "success", "objective": 0.99}},
    }  # fmt: skip
    file = tmp_path / "alerts.yaml"
    file.write_text(yaml.safe_dump(spec))
    for _ in range(2):  # idempotent
        out = run_cli("alerts", "apply", str(file), env=env)
        assert out.returncode == 0, out.stderr
    with server.client(admin_key) as http:
        assert [r["id"] for r in http.get("/v1/alerts/rules").json()["rules"]] == ["busy", "errors"]
        assert [s["id"] for s in http.get("/v1/slos").json()["slos"]] == ["ok-calls"]
    del spec["rules"]["busy"]
    file.write_text(yaml.safe_dump(spec))
    out = run_cli("alerts", "apply", str(file), "--prune", env=env)
    assert out.returncode == 0 and "rule busy: deleted" in out.stdout, out.stderr
    with server.client(admin_key) as http:
        assert [r["id"] for r in http.get("/v1/alerts/rules").json()["rules"]] == ["errors"]

    send(server, admin_key, calls("m", 4, errors=4))
    out = run_cli("alerts", "eval", "--once", env=env)
    assert out.returncode == 0 and "errors  ok -> firing" in out.stdout, out.stdout
    assert hook.wait_for(1)[0]["rule"]["id"] == "errors"
    out = run_cli("alerts", "history", env=env)
    assert "Errors" in out.stdout and "firing" in out.stdout
    out = run_cli("alerts", "silence", "2h", "--rule", "errors", "--comment", "deploy", env=env)
    assert out.returncode == 0 and "rule errors" in out.stdout, out.stderr
    out = run_cli("alerts", "rules", env=env)
    assert "errors" in out.stdout and "firing" in out.stdout

    file.write_text("rules: [unclosed")
    out = run_cli("alerts", "apply", str(file), env=env)
    assert out.returncode == 1 and str(file) in out.stderr and "Traceback" not in out.stderr
    file.write_text(yaml.safe_dump({"rules": {"bad": {"name": "b", "metric": "vibes",
                                                      "critical": 1}}}))  # fmt: skip
    out = run_cli("alerts", "apply", str(file), env=env)
    assert out.returncode == 1 and "metric: unknown metric 'vibes'" in " ".join(out.stderr.split())


def test_no_data_keep_holds_the_last_state(server: Server, admin_key: str) -> None:
    """`no_data: keep`: a firing alert whose calls stop keeps firing (no resolution sent);
    with `ok` it would resolve."""
    key = admin_key
    rule = {"name": "held", "metric": "error_rate", "critical": 0.5, "no_data": "keep",
            "min_requests": 3, "filters": {"model_id": ["held"]}}  # fmt: skip
    put(server, key, "/v1/alerts/rules/held", rule)
    send(server, key, calls("held", 4, errors=4))
    evaluate(server, key)
    assert alerts(server, key)["held"]["state"] == "firing"
    # The same rule on another model: no calls there, so no data from now on.
    put(server, key, "/v1/alerts/rules/held", {**rule, "filters": {"model_id": ["silent"]}})
    assert evaluate(server, key) == []
    assert alerts(server, key)["held"]["state"] == "firing"
    put(server, key, "/v1/alerts/rules/held", {**rule, "filters": {"model_id": ["silent"]},
                                               "no_data": "ok"})  # fmt: skip
    assert [t["to"] for t in evaluate(server, key)] == ["resolved"]

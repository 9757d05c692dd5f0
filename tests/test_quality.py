"""The data-quality report over HTTP and from the CLI, on three weeks of steady simulated
traffic with known faults injected: a 2-hour silence, a burst, a duplicated batch,
rejected events, an unpriced model that then stops, and metadata that changes shape.
Each figure is recounted here from the events sent."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import Server, new_project_key
from llmpulse.sim.traffic import TrafficGenerator

PER_HOUR = 6
WEEKS = 3
RANGE = timedelta(days=3)


@pytest.fixture(scope="module")
def faulty(server: Server) -> dict[str, Any]:
    key = new_project_key(server)
    now = datetime.now(UTC)
    top = now.replace(minute=0, second=0, microsecond=0)
    silence = (top - timedelta(hours=30), top - timedelta(hours=28))
    burst = top - timedelta(hours=20)
    stop = top - timedelta(hours=6)
    generator = TrafficGenerator(seed=3, users=50, error_rate=0.02)
    events: list[dict[str, Any]] = []
    hour = top - timedelta(weeks=WEEKS)
    while hour <= top:  # the current hour too, up to now: the data is fresh
        if not silence[0] <= hour < silence[1]:
            n = PER_HOUR * 5 if hour == burst else PER_HOUR
            for i in range(n):
                ts = hour + timedelta(minutes=60 * (i + 0.5) / n)
                if ts >= now:
                    break
                # Reported costs: the only unpriced calls are the mystery model's.
                event = {**generator.event(ts), "cost_usd": 0.001}
                recent = ts >= now - RANGE
                event["metadata"] = (
                    {"plan_id": "gold", "region_code": "eu"}
                    if recent
                    else {"tenant": "acme", "plan_id": 3}
                )
                events.append(event)
            if hour < stop and hour >= now - RANGE - timedelta(hours=1):
                for minute in (10, 30, 50):  # 3 an hour, then none for 6 hours
                    events.append({**generator.event(hour + timedelta(minutes=minute)),
                                   "model_id": "mystery-model", "provider": "mystery"})  # fmt: skip
        hour += timedelta(hours=1)
    bad = [{"model_id": "m", "latency_ms": -1}, {"latency_ms": 5}, {"model_id": "m"}]
    with server.client(key) as http:
        for i in range(0, len(events), 2000):
            assert http.post("/v1/events", json=events[i : i + 2000]).status_code == 202
        server.wait_loaded()
        recent = [e for e in events if _t(e) >= now - RANGE][:200]
        assert http.post("/v1/events", json=recent).status_code == 202  # a retried batch
        answer = http.post("/v1/events", json=bad)
        assert answer.status_code == 400, answer.text  # none stored, all kept as rejected
    server.wait_loaded()
    return {"key": key, "now": now, "events": events, "silence": silence, "burst": burst,
            "stop": stop, "rejected": len(bad)}  # fmt: skip


def _t(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))


def _quality(server: Server, key: str, status: int = 200, **params: Any) -> dict[str, Any]:
    with server.client(key) as http:
        answer = http.get("/v1/quality", params={"from": "-3d", **params})
    assert answer.status_code == status, answer.text
    return dict(answer.json())


def _checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def test_each_injected_fault_is_found(server: Server, faulty: dict[str, Any]) -> None:
    report = _quality(server, faulty["key"])
    checks = _checks(report)
    start = datetime.now(UTC) - RANGE
    in_range = [e for e in faulty["events"] if _t(e) >= start]
    assert report["events"] == len(in_range)
    assert report["status"] == "fail"

    silence = [g for g in checks["gaps"]["evidence"]["gaps"] if g["model_id"] is None]
    assert [(g["from"], g["to"]) for g in silence] == [
        tuple(f"{t:%Y-%m-%dT%H:%M:%S}.000Z" for t in faulty["silence"])
    ]
    assert silence[0]["hours"] == 2 and silence[0]["expected_calls"] == 2 * PER_HOUR

    anomalies = checks["volume"]["evidence"]["anomalies"]
    assert [a["hour"] for a in anomalies] == [f"{faulty['burst']:%Y-%m-%dT%H:%M:%S}.000Z"]
    burst = faulty["burst"]
    of_hour = lambda h: sum(h <= _t(e) < h + timedelta(hours=1) for e in faulty["events"])  # noqa: E731
    weeks_before = [of_hour(burst - timedelta(weeks=w)) for w in range(1, WEEKS + 1)]
    assert anomalies[0]["calls"] == of_hour(burst)
    assert anomalies[0]["baseline"] == sorted(weeks_before)[len(weeks_before) // 2]

    assert checks["duplicates"]["value"] == 200
    assert checks["rejected"]["value"] == faulty["rejected"]
    assert checks["rejected"]["evidence"]["reasons"]

    unpriced = [e for e in in_range if e["model_id"] == "mystery-model"]
    assert checks["unpriced"]["value"] == len(unpriced) > 0
    assert checks["unpriced"]["evidence"]["models"] == ["mystery-model"]

    stopped = checks["coverage"]["evidence"]["stopped"]
    assert [(s.get("model_id"), s.get("provider")) for s in stopped] == [
        ("mystery-model", None),
        (None, "mystery"),
    ]
    assert checks["coverage"]["status"] == "fail"

    shape = checks["metadata_schema"]["evidence"]
    assert shape["new_keys"] == ["region_code"] and shape["gone_keys"] == ["tenant"]
    assert shape["type_changes"] == [{"key": "plan_id", "before": ["number"], "now": ["string"]}]

    # Completeness: the share of the expected optional fields the calls carry.
    expected = present = 0
    for e in in_range:
        ok = e.get("status") != "error"
        pairs = [
            (bool(e.get("stream")) and ok, e.get("ttft_ms") is not None),
            (ok, bool(e.get("tokens_in") or e.get("tokens_out"))),
            (True, e["model_id"] != "mystery-model"),  # costed
            (True, bool(e.get("user_id"))),
            (True, bool(e.get("session_id"))),
            (True, bool(e.get("prompt_version"))),
        ]
        expected += sum(wanted for wanted, _ in pairs)
        present += sum(wanted and has for wanted, has in pairs)
    assert checks["completeness"]["value"] == pytest.approx(present / expected, abs=1e-9)
    # Every call was sent now, so those over an hour old are late arrivals.
    late = sum(_t(e) < faulty["now"] - timedelta(hours=1) for e in in_range)
    assert checks["clock_skew"]["evidence"]["late_events"] == late
    assert checks["freshness"]["status"] == "pass"


def test_thresholds_and_bad_input(server: Server, faulty: dict[str, Any]) -> None:
    strict = _checks(_quality(server, faulty["key"], freshness=1, completeness=1))
    assert strict["freshness"]["status"] == "fail" and strict["completeness"]["status"] == "fail"
    empty = _quality(server, new_project_key(server))
    assert empty["events"] == 0 and empty["checks"]
    assert _checks(empty)["freshness"]["value"] is None
    bad = _quality(server, faulty["key"], 400, completeness=2)
    assert bad["detail"][0]["field"] == "completeness"
    bad = _quality(server, faulty["key"], 400, gap="soon")
    assert bad["detail"][0]["field"] == "gap"
    bad = _quality(server, faulty["key"], 422, **{"from": "2000-01-01"})
    assert bad["detail"][0]["field"] == "from" and "400 days" in bad["error"]


def test_cli_prints_the_report_and_fails_on_a_failed_check(
    server: Server, faulty: dict[str, Any]
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "llmpulse", "quality", "--url", server.url, "--api-key",
         faulty["key"], "--from", "-3d"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "coverage" in run.stdout and "fail" in run.stdout and "mystery-model" in run.stdout
    fine = subprocess.run(
        [sys.executable, "-m", "llmpulse", "quality", "--url", server.url, "--api-key",
         faulty["key"], "--from", "-3d", "--check", "freshness", "--check", "rejected"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert fine.returncode == 0, fine.stdout + fine.stderr

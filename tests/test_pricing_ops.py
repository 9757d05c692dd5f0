"""Cost from a price file, reported costs, retention, /health and /metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN_KEY, Server
from llmpulse import __version__


def test_price_file_overrides_and_unpriced(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "gpt-4o: {input: 1.0, output: 2.0, cached: 0.5}\nmy-local-*: {input: 0.1, output: 0.2}\n"
    )
    server = Server(tmp_path / "data", "--prices", str(prices)).start()
    events = [
        {
            "model_id": "gpt-4o",
            "latency_ms": 5,
            "tokens_in": 1000,
            "tokens_out": 500,
            "tokens_cached": 200,
        },
        {"model_id": "my-local-llama", "latency_ms": 5, "tokens_in": 3000, "tokens_out": 1000},
        {"model_id": "mystery-model", "latency_ms": 5, "tokens_in": 10, "tokens_out": 10},
        {"model_id": "mystery-model", "latency_ms": 5, "tokens_in": 10, "tokens_out": 10},
        {"model_id": "mystery-model", "latency_ms": 5, "cost_usd": 0.25},
    ]
    try:
        with server.client() as http:
            assert http.post("/v1/events", json=events).status_code == 202
            server.wait_loaded()
            groups = http.get("/v1/metrics/summary", params={"group_by": "model_id"}).json()[
                "groups"
            ]
            unpriced = http.get("/v1/pricing/unpriced").json()["models"]
            logged = http.get("/v1/requests", params={"model_id": "mystery-model"}).json()[
                "requests"
            ]
    finally:
        server.stop()
    by_model = {g["key"]["model_id"]: g for g in groups}
    assert by_model["gpt-4o"]["cost_usd"] == pytest.approx(
        (800 * 1.0 + 200 * 0.5 + 500 * 2.0) / 1e6
    )
    assert by_model["my-local-llama"]["cost_usd"] == pytest.approx((3000 * 0.1 + 1000 * 0.2) / 1e6)
    assert by_model["mystery-model"]["cost_usd"] == pytest.approx(0.25)
    assert by_model["mystery-model"]["unpriced"] == 2
    assert [(m["model_id"], m["events"]) for m in unpriced] == [("mystery-model", 2)]
    statuses = sorted((r["cost_source"], r["cost_usd"]) for r in logged)
    assert statuses == [("reported", 0.25), ("unpriced", None), ("unpriced", None)]


def test_bad_price_file_is_one_clear_line(tmp_path: Path) -> None:
    from conftest import run_cli

    prices = tmp_path / "prices.yaml"
    prices.write_text("gpt-4o: {input: cheap, output: 2}\n")
    out = run_cli("serve", "--prices", str(prices), "--port", "0", data_dir=tmp_path / "d")
    assert out.returncode == 1
    assert "gpt-4o: prices must be numbers" in out.stderr
    assert "Traceback" not in out.stderr


def test_retention_days_bounds_accepted_timestamps(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", "--retention-days", "2").start()
    old = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    recent = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    try:
        with server.client() as http:
            r = http.post(
                "/v1/events",
                json=[{"model_id": "m", "latency_ms": 1, "ts": t} for t in (old, recent)],
            )
    finally:
        server.stop()
    assert r.status_code == 202
    assert r.json()["errors"] == [
        {"index": 0, "field": "ts", "error": "is older than the 2-day retention window"}
    ]


def test_health_and_prometheus_metrics(fresh_server: Server) -> None:
    server = fresh_server.start()
    with server.client() as http:
        http.post("/v1/events", json=[{"model_id": "m", "latency_ms": 1}] * 7 + [{"model_id": "m"}])
        server.wait_loaded()
        http.post("/v1/events", json=[{"model_id": "m", "latency_ms": 1}] * 7)
        server.wait_loaded()
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok", "version": __version__}
    health = server.health()
    assert health["status"] == "ok"
    assert health["store"]["ok"] is True
    assert health["store"]["events"] == 14
    assert health["store"]["bytes_on_disk"] > 0
    assert health["spool"] == {"pending_batches": 0, "pending_bytes": 0, "last_write_error": None}
    assert health["loader"]["lag_seconds"] == 0
    text = httpx.get(f"{server.url}/metrics").text
    assert 'llmpulse_events_accepted_total{kind="events",source="http"} 14.0' in text
    assert (
        'llmpulse_events_rejected_total{kind="events",reason="latency_ms",source="http"} 1.0'
        in text
    )
    assert (
        'llmpulse_http_request_seconds_count{method="POST",route="/v1/events",status="202"} 2.0'
        in text
    )
    assert "llmpulse_spool_pending_batches 0.0" in text
    assert "llmpulse_loader_lag_seconds 0.0" in text
    assert "llmpulse_store_insert_seconds_count" in text
    assert ADMIN_KEY not in text


def test_rejection_metric_labels_are_bounded(server: Server, project_key: str) -> None:
    bad = [{"model_id": "m", "latency_ms": 1, "metadata": {f"k{i}": {"x": 1}}} for i in range(5)]
    with server.client(project_key) as http:
        r = http.post("/v1/events", json=bad)
    assert {e["field"] for e in r.json()["errors"]} == {f"metadata.k{i}" for i in range(5)}
    text = httpx.get(f"{server.url}/metrics").text
    assert 'reason="metadata"' in text
    assert "k3" not in text

"""Application logs and custom metrics: v1 JSON, OTLP/HTTP from the real OpenTelemetry SDK
exporters, the SDK's logging handler; search, counts and aggregations against numpy over
what was sent; bad input; alert kinds; the Logs page and a request's logs."""

from __future__ import annotations

import contextlib
import logging
import random
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from playwright.sync_api import Browser

import llmpulse
from conftest import ADMIN_KEY, Server, new_project_key
from test_alerts import alerts, evaluate
from test_dashboard import CHROMIUM, browser  # noqa: F401 - the module's browser

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SEVERITY_NAMES = {5: "DEBUG", 9: "INFO", 13: "WARNING", 17: "ERROR", 21: "CRITICAL"}
MESSAGES = ("db timeout after 30s", "user signed in", "cache miss for key", "Payment TIMEOUT",
            "retrying request", "disk 91% full")  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("logs") / "data", "--no-alerts").start()
    yield srv
    srv.stop()


def get(server: Server, key: str, path: str, **params: Any) -> Any:
    with server.client(key) as http:
        r = http.get(path, params={"from": "-3h", **params})
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def logs_sent(server: Server) -> dict[str, Any]:
    """1,500 records over the last 2 hours, a fifth with OTel severity numbers, sent as
    JSON then NDJSON; then a retry of the first 100 (their ids given)."""
    key = new_project_key(server, admin=True)
    rng = random.Random(5)
    now = datetime.now(UTC)
    records = []
    for i in range(1500):
        level = rng.choice(LEVELS)
        record: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "ts": (now - timedelta(seconds=rng.uniform(1, 7200))).isoformat(),
            "message": f"{rng.choice(MESSAGES)} #{i}",
            "service": rng.choice(["api", "worker", "billing"]),
            "logger": "app." + rng.choice(["db", "http"]),
            "trace_id": f"{rng.getrandbits(128):032x}" if rng.random() < 0.3 else None,
            "attributes": {"attempt": rng.randint(1, 3)},
        }
        if rng.random() < 0.2:
            number = {v: k for k, v in SEVERITY_NAMES.items()}[level]
            record["severity_number"] = number
        else:
            record["level"] = level.lower() if rng.random() < 0.5 else level
        record["expected_level"] = level
        records.append(record)
    sendable = [{k: v for k, v in r.items() if k != "expected_level"} for r in records]
    with server.client(key) as http:
        r = http.post("/v1/logs", json=sendable[:700])
        assert r.status_code == 202 and r.json()["accepted"] == 700, r.text
        body = b"\n".join(__import__("orjson").dumps(r) for r in sendable[700:])
        r = http.post("/v1/logs", content=body, headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 202 and r.json()["accepted"] == 800, r.text
        server.wait_loaded()
        assert http.post("/v1/logs", json=sendable[:100]).status_code == 202
    server.wait_loaded()
    return {"key": key, "records": records}


def test_log_counts_search_and_pages_equal_what_was_sent(
    server: Server, logs_sent: dict[str, Any]
) -> None:
    key, records = logs_sent["key"], logs_sent["records"]
    counts = get(server, key, "/v1/logs/counts", interval="15m")
    assert counts["total"] == len(records)
    per_level = {s["level"]: sum(p["records"] for p in s["points"]) for s in counts["series"]}
    assert per_level == dict(Counter(r["expected_level"] for r in records))

    errors = get(server, key, "/v1/logs/counts", level="ERROR", service="api")["total"]
    assert errors == sum(r["expected_level"] == "ERROR" and r["service"] == "api" for r in records)
    # Text search: any case, a substring of the message.
    found = get(server, key, "/v1/logs", q="timeout", limit=1000)["logs"]
    assert {f["event_id"] for f in found} == {
        r["event_id"] for r in records if "timeout" in r["message"].lower()
    }
    traced = next(r for r in records if r["trace_id"])
    by_trace = get(server, key, "/v1/logs", trace_id=traced["trace_id"].upper())["logs"]
    assert [r["event_id"] for r in by_trace] == [traced["event_id"]]
    assert by_trace[0]["attributes"] == {"attempt": str(traced["attributes"]["attempt"])}

    # Every record exactly once through the pages, newest first.
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = get(server, key, "/v1/logs", limit=400, **({"cursor": cursor} if cursor else {}))
        seen += page["logs"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(records) == len({r["event_id"] for r in seen})
    assert [r["ts"] for r in seen] == sorted((r["ts"] for r in seen), reverse=True)
    facets = get(server, key, "/v1/logs/facets")
    assert facets["services"] == dict(Counter(r["service"] for r in records))


def test_bad_log_records(server: Server) -> None:
    key = new_project_key(server)
    bad = [
        {"message": "x", "level": "LOUD"},
        {"level": "INFO"},
        {"message": "x", "trace_id": "not-hex"},
        {"message": "x", "severity_number": 30},
        {"message": "x", "attributes": {"deep": {"a": 1}}},
        {"message": "fine", "level": "warn"},
    ]
    with server.client(key) as http:
        r = http.post("/v1/logs", json=bad)
        assert r.status_code == 202, r.text
        fields = [e["field"] for e in r.json()["errors"]]
        assert fields == ["level", "message", "trace_id", "severity_number", "attributes.deep"]
        assert "unknown level 'LOUD'" in r.json()["errors"][0]["error"]
        r = http.post("/v1/logs", content=b"<xml/>", headers={"Content-Type": "text/xml"})
        assert r.status_code == 415 and r.json()["detail"][0]["field"] == "Content-Type"
        r = http.post("/v1/logs", content=b"\x00garbage",
                      headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
        assert r.status_code == 400 and "ExportLogsServiceRequest" in r.json()["error"]
        server.wait_loaded()
        stored = http.get("/v1/logs", params={"from": "-1h"}).json()["logs"]
        assert [(s["message"], s["level"]) for s in stored] == [("fine", "WARNING")]
        rejected = http.get("/v1/rejected", params={"from": "-1h"}).json()["rejected"]
        assert len(rejected) == 5 and any("unknown level" in r["reason"] for r in rejected)


def test_otlp_logs_from_the_opentelemetry_sdk_keep_their_trace(server: Server) -> None:
    key = new_project_key(server)
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    exporter = OTLPLogExporter(endpoint=f"{server.url}/v1/logs",
                               headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger(f"otel-{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=provider))
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("checkout") as span:
        logger.error("card declined for order %d", 7, extra={"order": 7})
        trace_id = f"{span.get_span_context().trace_id:032x}"
    logger.warning("outside a span")
    provider.shutdown()
    # OTLP/JSON too, with one record the server cannot read: a partial success.
    body = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeLogs": [{"scope": {"name": "j"}, "logRecords": [
            {"timeUnixNano": str(int(datetime.now(UTC).timestamp() * 1e9)),
             "severityNumber": 17, "body": {"stringValue": "json error"},
             "traceId": trace_id, "spanId": "00f067aa0ba902b7"},
            {"severityText": "LOUD", "body": {"stringValue": "odd"}}]}]}]}  # fmt: skip
    with server.client(key) as http:
        r = http.post("/v1/logs", json=body)
        assert r.status_code == 200, r.text
        partial = r.json()["partialSuccess"]
        assert (
            partial["rejectedLogRecords"] == 1 and "unknown level 'LOUD'" in partial["errorMessage"]
        )
    server.wait_loaded()
    logs = get(server, key, "/v1/logs", trace_id=trace_id)["logs"]
    assert {(r["service"], r["level"], r["message"]) for r in logs} == {
        ("checkout", "ERROR", "card declined for order 7"),
        ("json-svc", "ERROR", "json error"),
    }
    otel = next(r for r in logs if r["service"] == "checkout")
    assert otel["attributes"]["order"] == "7" and otel["span_id"]
    assert get(server, key, "/v1/logs/counts")["total"] == 3


def test_sdk_logging_handler_sends_records_with_the_span(server: Server) -> None:
    key = new_project_key(server)
    llmpulse.init(endpoint=server.url, api_key=key)
    logger = logging.getLogger(f"sdk-{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(llmpulse.logging_handler(service="shop"))

    @llmpulse.observe
    def checkout() -> str | None:
        logger.info("basket has %d items", 3, extra={"basket": "b-1"})
        return llmpulse.current_trace_id()

    try:
        trace_id = checkout()
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("payment failed")
        assert llmpulse.flush(10)
    finally:
        llmpulse.shutdown()
    server.wait_loaded()
    logs = {r["message"]: r for r in get(server, key, "/v1/logs")["logs"]}
    assert set(logs) == {"basket has 3 items", "payment failed"}
    info = logs["basket has 3 items"]
    assert (info["trace_id"], info["service"], info["attributes"]["basket"]) == (
        trace_id,
        "shop",
        "b-1",
    )
    failed = logs["payment failed"]
    assert failed["level"] == "ERROR" and "ValueError: boom" in failed["attributes"]["exception"]


def test_custom_metrics_aggregate_like_numpy(server: Server) -> None:
    key = new_project_key(server)
    rng = random.Random(9)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=50)
    points: list[dict[str, Any]] = []
    for _ in range(600):
        ts = start + timedelta(seconds=rng.uniform(0, 2400))
        region = rng.choice(["eu", "us"])
        points += [
            {"name": "queue.depth", "value": rng.uniform(0, 100), "ts": ts.isoformat(),
             "tags": {"region": region}},
            {"name": "jobs.done", "type": "counter", "value": rng.randint(0, 5),
             "ts": ts.isoformat(), "tags": {"region": region}},
            {"name": "job.seconds", "type": "histogram", "value": rng.expovariate(0.5),
             "ts": ts.isoformat(), "unit": "s"},
        ]  # fmt: skip
    with server.client(key) as http:
        r = http.post("/v1/metrics", json=points)
        assert r.status_code == 202 and r.json()["accepted"] == len(points), r.text
        server.wait_loaded()
        assert http.post("/v1/metrics", json=points[:90]).status_code == 202  # a retry
    server.wait_loaded()

    def bucket(p: dict[str, Any]) -> str:
        t = datetime.fromisoformat(p["ts"])
        return t.replace(minute=t.minute // 15 * 15, second=0, microsecond=0).isoformat()

    def series(name: str, agg: str, **extra: Any) -> dict[str, dict[str, float | None]]:
        found = get(server, key, "/v1/metrics/custom/series", name=name, agg=agg,
                    interval="15m", **extra)["series"]  # fmt: skip
        return {
            "/".join(s["key"].values()) or "all": {
                p["t"].replace(".000Z", "+00:00"): p["value"] for p in s["points"] if p["value"]
            }
            for s in found
        }

    def expected(name: str, fn: Any, by_region: bool) -> dict[str, dict[str, float]]:
        groups: dict[str, dict[str, list[float]]] = {}
        for p in points:
            if p["name"] == name:
                group = p["tags"]["region"] if by_region else "all"
                groups.setdefault(group, {}).setdefault(bucket(p), []).append(p["value"])
        return {g: {b: fn(np.array(v)) for b, v in found.items()} for g, found in groups.items()}

    for agg, fn in (("avg", np.mean), ("max", np.max), ("sum", np.sum), ("count", len)):
        got = series("queue.depth", agg, group_by="region")
        want = expected("queue.depth", fn, True)
        assert got.keys() == want.keys()
        for g in want:
            assert got[g] == pytest.approx(want[g], rel=1e-9), (agg, g)
    rate = series("jobs.done", "rate", tag="region:eu")["all"]
    eu = expected("jobs.done", lambda v: v.sum() / 900, True)["eu"]
    assert rate == pytest.approx({b: v for b, v in eu.items() if v}, rel=1e-9)
    hist = series("job.seconds", "avg")["all"]
    assert hist == pytest.approx(expected("job.seconds", np.mean, False)["all"], rel=1e-9)
    p95 = series("job.seconds", "p95")["all"]
    want95 = expected("job.seconds", lambda v: np.percentile(v, 95), False)["all"]
    assert p95 == pytest.approx(want95, rel=0.05)  # a ClickHouse quantile: a sample's
    catalog = {m["name"]: m for m in get(server, key, "/v1/metrics/custom")["metrics"]}
    assert catalog["jobs.done"]["type"] == "counter" and catalog["job.seconds"]["unit"] == "s"
    assert catalog["queue.depth"]["points"] == 600 and catalog["queue.depth"]["tag_keys"] == [
        "region"
    ]


def test_bad_metric_points(server: Server) -> None:
    key = new_project_key(server)
    with server.client(key) as http:
        assert http.post("/v1/metrics", json={"name": "cpu", "value": 1}).status_code == 202
        server.wait_loaded()
        bad = [
            {"name": "queue depth", "value": 1},
            {"name": "cpu", "type": "counter", "value": 1},
            {"name": "errs", "type": "counter", "value": -2},
            {"name": "m", "value": 1, "tags": {"bad tag": "x"}},
            {"name": "m", "value": "high"},
            {"name": "m", "value": 1, "type": "summary"},
        ]
        r = http.post("/v1/metrics", json=bad)
        assert r.status_code == 400, r.text
        errors = r.json()["errors"]
        assert [e["field"] for e in errors] == ["name", "type", "value", "tags", "value", "type"]
        assert "no spaces" in errors[0]["error"] and "'cpu' is a gauge" in errors[1]["error"]
        r = http.get("/v1/metrics/custom/series", params={"name": "nope"})
        assert r.status_code == 404 and r.json()["detail"][0]["field"] == "name"
        r = http.get("/v1/metrics/custom/series", params={"name": "cpu", "agg": "rate"})
        assert r.status_code == 400 and "a gauge aggregates by" in r.json()["error"]
        r = http.get("/v1/metrics/custom/series", params={"name": "cpu", "tag": "region"})
        assert r.status_code == 400 and r.json()["detail"][0]["field"] == "tag"


def otel_default_quantile(values: list[float], level: float) -> float:
    """The p-quantile as Prometheus reads a histogram, over OTel's default buckets."""
    bounds = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]
    counts = [0] * (len(bounds) + 1)
    for v in values:
        counts[next((i for i, b in enumerate(bounds) if v <= b), len(bounds))] += 1
    rank, seen = level * len(values), 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            low, high = bounds[i - 1], bounds[i]
            return low + (high - low) * (rank - seen) / c
        seen += c
    raise AssertionError


def test_otlp_metrics_from_the_opentelemetry_sdk(server: Server) -> None:
    """Cumulative counters and histograms (the OTel SDK's default), exported three times:
    read as increments, not as running totals added up."""
    key = new_project_key(server)
    exporter = OTLPMetricExporter(endpoint=f"{server.url}/v1/metrics",
                                  headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"service.name": "shop"}),
                             metric_readers=[reader])  # fmt: skip
    meter = provider.get_meter("test")
    orders = meter.create_counter("orders")
    latency = meter.create_histogram("checkout.latency", unit="ms")
    rng = random.Random(3)
    observed: list[float] = []
    added = {"eu": 0, "us": 0}
    for _ in range(3):
        for _ in range(50):
            region, n = rng.choice(["eu", "us"]), rng.randint(1, 4)
            orders.add(n, {"region": region})
            added[region] += n
            value = rng.uniform(1, 400)
            latency.record(value)
            observed.append(value)
        provider.force_flush()
    provider.shutdown()
    server.wait_loaded()
    total = get(server, key, "/v1/metrics/custom/series", name="orders", agg="sum",
                interval="1h", group_by="region")["series"]  # fmt: skip
    assert {s["key"]["region"]: sum(p["value"] for p in s["points"]) for s in total} == added
    got = {agg: [p["value"] for p in get(server, key, "/v1/metrics/custom/series",
                                         name="checkout.latency", agg=agg, interval="1d",
                                         **{"from": "-1d"})["series"][0]["points"] if p["value"]]
           for agg in ("count", "avg", "p95")}  # fmt: skip
    assert got["count"] == [150]
    assert got["avg"] == pytest.approx([np.mean(observed)])
    assert got["p95"] == pytest.approx([otel_default_quantile(observed, 0.95)])


def test_log_count_and_custom_metric_alerts_fire(server: Server) -> None:
    key = new_project_key(server, admin=True)
    with server.client(key) as http:
        logs = [
            {"message": f"db timeout {i}", "level": "ERROR", "service": "api"} for i in range(6)
        ]
        logs += [{"message": "db timeout", "level": "CRITICAL", "service": "api"},
                 {"message": "db timeout", "level": "INFO", "service": "api"},
                 {"message": "other", "level": "ERROR", "service": "api"}]  # fmt: skip
        assert http.post("/v1/logs", json=logs).json()["accepted"] == 9
        depth = [{"name": "queue.depth", "value": v} for v in (90, 110)]
        assert http.post("/v1/metrics", json=depth).json()["accepted"] == 2
        server.wait_loaded()
        for rule in (
            {"name": "timeouts", "kind": "log_count", "metric": "ERROR", "window": "5m",
             "critical": 5, "params": {"pattern": "TIMEOUT", "service": "api"}},
            {"name": "backlog", "kind": "custom_metric", "metric": "queue.depth",
             "window": "5m", "critical": 99, "params": {"agg": "max"}},
            {"name": "calm", "kind": "custom_metric", "metric": "queue.depth", "window": "5m",
             "critical": 150},
        ):  # fmt: skip
            r = http.post("/v1/alerts/rules", json=rule)
            assert r.status_code in (200, 201), r.text
        for bad, field in (
            ({"kind": "log_count", "metric": "LOUD"}, "metric"),
            ({"kind": "log_count", "metric": "ERROR", "filters": {"model_id": ["x"]}}, "filters"),
            ({"kind": "custom_metric", "metric": "queue depth"}, "metric"),
            ({"kind": "custom_metric", "metric": "q", "params": {"agg": "mode"}}, "params.agg"),
        ):  # fmt: skip
            r = http.post("/v1/alerts/rules", json={"name": "bad", "critical": 1, **bad})
            assert r.status_code == 422 and r.json()["detail"][0]["field"] == field, r.text
    fired = {t["rule_id"]: t["to"] for t in evaluate(server, key)}
    assert fired == {"timeouts": "firing", "backlog": "firing"}
    now = alerts(server, key)
    assert now["timeouts"]["value"] == 7  # ERROR and CRITICAL, with the pattern, any case
    assert now["backlog"]["value"] == 110 and now["calm"]["value"] == 100


def test_logs_page_and_a_requests_logs(
    server: Server,
    browser: Browser,  # noqa: F811
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium")
    key = new_project_key(server)
    trace_id = uuid.uuid4().hex
    with server.client(key) as http:
        http.post("/v1/events", json={"model_id": "gpt-4o", "latency_ms": 120,
                                      "trace_id": trace_id, "span_id": "ab" * 8})  # fmt: skip
        http.post("/v1/logs", json=[
            {"message": "prompt built", "level": "INFO", "service": "api", "trace_id": trace_id},
            {"message": "model slow", "level": "WARNING", "service": "api", "trace_id": trace_id},
            {"message": "unrelated failure", "level": "ERROR", "service": "worker"},
        ])  # fmt: skip
        http.post("/v1/metrics", json=[{"name": "queue.depth", "value": 3}])
    server.wait_loaded()
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/login")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/(\?.*)?$"))
    page.goto(f"{server.url}/logs?range=1h")
    assert page.locator("#log-records tr[data-log]").count() == 3
    page.select_option("select[name=level]", "ERROR")
    page.click("form.controls button[type=submit]")
    page.wait_for_url(re.compile(r".*level=ERROR.*"))
    assert page.locator("#log-records tr[data-log]").all_inner_texts()[0].count("unrelated") == 1
    assert page.locator("#log-records tr[data-log]").count() == 1
    page.goto(f"{server.url}/logs?range=1h&level=WARNING")
    page.click("a.trace-link")  # the record's trace: its LLM calls
    page.wait_for_url(re.compile(rf".*/requests\?.*q={trace_id}.*"))
    page.locator("tr[data-event]").first.click()
    page.locator("#trace-logs li").first.wait_for()
    assert page.locator("#trace-logs li").count() == 2
    page.goto(f"{server.url}/?range=1h&custom=queue.depth")
    page.locator("[data-chart='queue.depth (avg)'] .main-svg").first.wait_for()
    assert errors == []


def test_server_side_redaction_applies_to_logs(server: Server) -> None:
    key = new_project_key(server, admin=True)
    with server.client(key) as http:
        r = http.put("/v1/settings/redaction", json={"rules": {"email": True}})
        assert r.status_code == 200, r.text
        r = http.post("/v1/logs", json={"message": "mail to ann@example.com failed",
                                        "attributes": {"to": "bob@example.org"}})  # fmt: skip
        assert r.status_code == 202
    server.wait_loaded()
    stored = get(server, key, "/v1/logs")["logs"][0]
    assert "@example" not in str(stored) and "[REDACTED:email]" in stored["message"]


def test_posts_logs_and_metrics_load_once_through_a_loader_crash(tmp_path: Path) -> None:
    """The loader dies (as under kill -9) after inserting a run into every table but before
    the spool checkpoint moved: the restart repeats the insert, each row is stored once."""
    server = Server(tmp_path / "data", "--no-alerts").start(LLMPULSE_CRASH_AT="before-commit")
    key = ADMIN_KEY
    posts = [{"id": i, "text": f"post {i} $NVDA", "likes": i} for i in range(300)]
    # Sent again below: a retry is recognised by its id, or by a point's series and time.
    logs = [{"message": f"line {i}", "level": "INFO", "event_id": f"l{i}"} for i in range(200)]
    at = datetime.now(UTC).isoformat()
    points = [{"name": "depth", "value": float(i), "tags": {"i": str(i)}, "ts": at}
              for i in range(100)]  # fmt: skip
    try:
        with server.client(key) as http:
            assert http.post("/v1/social/posts", json=posts).status_code == 202
            # The loader may crash while these are sent: what was acknowledged counts.
            for path, body in (("/v1/logs", logs), ("/v1/metrics", points)):
                with contextlib.suppress(httpx.TransportError):
                    assert http.post(path, json=body).status_code == 202
        assert server.proc is not None and server.proc.wait(60) == 137, "no crash"
        server.start()
        with server.client(key) as http:  # what the crash cut off, sent again
            for path, body in (("/v1/logs", logs), ("/v1/metrics", points)):
                assert http.post(path, json=body).status_code == 202
        server.wait_loaded()
        assert get(server, key, "/v1/social/summary")["posts"] == 300
        assert get(server, key, "/v1/social/summary")["engagement"] == sum(range(300))
        assert get(server, key, "/v1/logs/counts")["total"] == 200
        catalog = get(server, key, "/v1/metrics/custom")["metrics"]
        assert [(m["name"], m["points"]) for m in catalog] == [("depth", 100)]
    finally:
        server.stop()

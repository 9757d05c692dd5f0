"""Simulated traffic in; summary, timeseries and top errors equal numpy over the same events."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from genai_prices import Usage, calc_price

from conftest import Server
from llmpulse.sim.sender import EventSender
from llmpulse.sim.traffic import TrafficGenerator

N_EVENTS = 6000
SPAN = timedelta(hours=2)


@pytest.fixture(scope="module")
def traffic(server: Server) -> tuple[str, list[dict[str, Any]], datetime]:
    """N_EVENTS simulated events spread over the last two hours, sent to a new project."""
    from llmpulse.meta.keys import KeyStore

    keys = KeyStore(server.data_dir / "keys.sqlite3")
    keys.create_project("e2e")
    _, key = keys.create_key("e2e")
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - SPAN
    gen = TrafficGenerator(seed=7, users=50, error_rate=0.08)
    step = SPAN / N_EVENTS
    events = [gen.event(start + i * step) for i in range(N_EVENTS)]
    sender = EventSender(server.url, key)
    for i in range(0, N_EVENTS, 700):
        answer = sender.send(events[i : i + 700])
        assert answer["rejected"] == 0, answer["errors"][:3]
    server.wait_loaded()
    return key, events, start


def within(value: float, values: np.ndarray, q: float, tolerance: float = 0.01) -> bool:
    """value is within 1% of the exact q-quantile (between the order statistics around it)."""
    low = np.quantile(values, q, method="lower")
    high = np.quantile(values, q, method="higher")
    return bool(low * (1 - tolerance) <= value <= high * (1 + tolerance))


def expected_cost(e: dict[str, Any]) -> float | None:
    try:
        price = calc_price(
            Usage(
                input_tokens=e["tokens_in"],
                output_tokens=e.get("tokens_out", 0),
                cache_read_tokens=e.get("tokens_cached", 0),
            ),
            e["model_id"],
            provider_id=e["provider"],
        )
    except LookupError:
        return None
    return float(price.total_price)


def test_summary_by_model_matches_numpy(server: Server, traffic: Any) -> None:
    key, events, start = traffic
    with server.client(key) as http:
        r = http.get(
            "/v1/metrics/summary", params={"group_by": "model_id", "from": start.isoformat()}
        )
    assert r.status_code == 200, r.text
    groups = {g["key"]["model_id"]: g for g in r.json()["groups"]}
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_model[e["model_id"]].append(e)
    assert set(groups) == set(by_model)
    for model, evs in by_model.items():
        g = groups[model]
        latency = np.array([e["latency_ms"] for e in evs])
        ttft = np.array([e["ttft_ms"] for e in evs if e.get("ttft_ms") is not None])
        errors = sum(e["status"] == "error" for e in evs)
        assert g["requests"] == len(evs)
        assert g["errors"] == errors
        assert g["error_rate"] == pytest.approx(errors / len(evs))
        assert g["latency_ms"]["avg"] == pytest.approx(latency.mean())
        assert g["ttft_ms"]["avg"] == pytest.approx(ttft.mean())
        for q in (50, 95, 99):
            assert within(g["latency_ms"][f"p{q}"], latency, q / 100), (model, q)
            assert within(g["ttft_ms"][f"p{q}"], ttft, q / 100), (model, q)
        assert g["tokens_in"] == sum(e["tokens_in"] for e in evs)
        assert g["tokens_out"] == sum(e["tokens_out"] for e in evs)
        # Output tokens over generation time (latency - TTFT), for ok calls that had both.
        gen = [(e["tokens_out"], e["latency_ms"] - (e.get("ttft_ms") or 0)) for e in evs
               if e["status"] == "ok" and e["tokens_out"] > 0]  # fmt: skip
        gen = [(tokens, ms) for tokens, ms in gen if ms > 0]
        expected_tps = sum(t for t, _ in gen) * 1000 / sum(ms for _, ms in gen)
        assert g["tokens_per_s"] == pytest.approx(expected_tps)
        costs = [expected_cost(e) for e in evs]
        if all(c is None for c in costs):
            assert g["unpriced"] == len(evs)
            assert g["cost_usd"] == 0
        else:
            assert g["unpriced"] == 0
            assert g["cost_usd"] == pytest.approx(sum(c for c in costs if c is not None), rel=1e-6)


def test_unpriced_models_listed(server: Server, traffic: Any) -> None:
    key, events, start = traffic
    unpriced = Counter(e["model_id"] for e in events if expected_cost(e) is None)
    assert unpriced, "the simulator is expected to include a model without a price"
    with server.client(key) as http:
        r = http.get("/v1/pricing/unpriced", params={"from": start.isoformat()})
    assert {m["model_id"]: m["events"] for m in r.json()["models"]} == dict(unpriced)


def test_summary_without_group_and_with_filters(server: Server, traffic: Any) -> None:
    key, events, start = traffic
    with server.client(key) as http:
        total = http.get("/v1/metrics/summary", params={"from": start.isoformat()}).json()
        filtered = http.get(
            "/v1/metrics/summary",
            params=[("from", start.isoformat()), ("status", "error"), ("region", "eu-central"),
                    ("region", "ap-south"), ("group_by", "experiment_variant")],
        ).json()  # fmt: skip
    assert len(total["groups"]) == 1 and total["groups"][0]["key"] == {}
    assert total["groups"][0]["requests"] == len(events)
    picked = [
        e for e in events if e["status"] == "error" and e["region"] in ("eu-central", "ap-south")
    ]
    counts = Counter(e["experiment"]["variant"] for e in picked)
    assert {g["key"]["experiment_variant"]: g["requests"] for g in filtered["groups"]} == dict(
        counts
    )


def _bucket(ts: str, seconds: int) -> str:
    t = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    return (
        datetime.fromtimestamp(t // seconds * seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def test_timeseries_matches_numpy(server: Server, traffic: Any) -> None:
    key, events, start = traffic
    # Ask for a range wider than the data: the empty buckets at the end must be there.
    params = {"from": start.isoformat(), "to": (start + SPAN + timedelta(minutes=30)).isoformat()}
    with server.client(key) as http:
        requests = http.get(
            "/v1/metrics/timeseries", params={**params, "metric": "requests", "interval": "5m"}
        ).json()
        p95 = http.get(
            "/v1/metrics/timeseries",
            params={**params, "metric": "latency_p95", "interval": "15m", "group_by": "provider"},
        ).json()
        rate = http.get(
            "/v1/metrics/timeseries", params={**params, "metric": "error_rate", "interval": "1h"}
        ).json()
    points = requests["series"][0]["points"]
    assert len(points) == (SPAN + timedelta(minutes=30)) // timedelta(minutes=5)
    counts = Counter(_bucket(e["ts"], 300) for e in events)
    assert {p["t"]: p["value"] for p in points} == {p["t"]: counts.get(p["t"], 0) for p in points}
    assert points[-1]["value"] == 0

    for series in p95["series"]:
        provider = series["key"]["provider"]
        by_bucket: dict[str, list[float]] = defaultdict(list)
        for e in events:
            if e["provider"] == provider:
                by_bucket[_bucket(e["ts"], 900)].append(e["latency_ms"])
        for point in series["points"]:
            values = by_bucket.get(point["t"])
            if values is None:
                assert point["value"] is None
            else:
                assert within(point["value"], np.array(values), 0.95), (provider, point)

    errors: dict[str, list[bool]] = defaultdict(list)
    for e in events:
        errors[_bucket(e["ts"], 3600)].append(e["status"] == "error")
    for point in rate["series"][0]["points"]:
        expected = np.mean(errors[point["t"]]) if point["t"] in errors else 0
        assert point["value"] == pytest.approx(expected)


def test_top_errors_matches_events(server: Server, traffic: Any) -> None:
    key, events, start = traffic
    with server.client(key) as http:
        r = http.get("/v1/errors/top", params={"from": start.isoformat(), "limit": 5})
    top = r.json()["errors"]
    failed = [e for e in events if e["status"] == "error"]
    counts = Counter((e["error_type"], e["model_id"]) for e in failed)
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert [((t["error_type"], t["model_id"]), t["count"]) for t in top] == expected
    for t in top:
        assert t["share"] == pytest.approx(t["count"] / len(failed))
        same = [
            e
            for e in failed
            if (e["error_type"], e["model_id"]) == (t["error_type"], t["model_id"])
        ]
        latest = max(same, key=lambda e: e["ts"])
        assert t["latest"]["event_id"] == latest["event_id"]
        assert t["latest"]["http_status"] == latest["http_status"]


def test_requests_pagination_returns_every_event_once(server: Server, traffic: Any) -> None:
    key, events, start = traffic
    seen: list[str] = []
    cursor = None
    with server.client(key) as http:
        while True:
            params = {
                "from": start.isoformat(),
                "limit": 1000,
                **({"cursor": cursor} if cursor else {}),
            }
            page = http.get("/v1/requests", params=params).json()
            seen += [r["event_id"] for r in page["requests"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        newest = events[-1]
        one = http.get(f"/v1/requests/{newest['event_id']}").json()
    assert sorted(seen) == sorted(e["event_id"] for e in events)
    assert seen[0] == newest["event_id"]
    for field in ("model_id", "user_id", "session_id", "request_id", "latency_ms", "tokens_in",
                  "prompt_version", "region", "environment", "temperature", "max_tokens"):  # fmt: skip
        assert one[field] == newest[field], field
    assert one["experiment_variant"] == newest["experiment"]["variant"]
    assert one["client_app"] == newest["client"]["app"]
    assert one["ts"] == newest["ts"]


def test_rollup_and_raw_paths_agree(server: Server, traffic: Any) -> None:
    """Whole hours come from the hourly rollup unless a filter needs raw rows: same numbers."""
    key, events, start = traffic
    regions = sorted({e["region"] for e in events})
    base = [("from", (start - timedelta(minutes=17)).isoformat()), ("group_by", "model_id")]
    with server.client(key) as http:
        rolled = http.get("/v1/metrics/summary", params=base).json()["groups"]
        raw = http.get(
            "/v1/metrics/summary", params=base + [("region", r) for r in regions]
        ).json()["groups"]
    assert [g["key"] for g in rolled] == [g["key"] for g in raw]
    for a, b in zip(rolled, raw, strict=True):
        assert (
            a["requests"] == b["requests"]
            and a["errors"] == b["errors"]
            and a["unpriced"] == b["unpriced"]
        )
        assert a["tokens_in"] == b["tokens_in"] and a["tokens_out"] == b["tokens_out"]
        for field in ("latency_ms", "ttft_ms"):
            for stat in ("avg", "p50", "p95", "p99"):
                assert a[field][stat] == pytest.approx(b[field][stat], rel=1e-9), (field, stat)
        assert a["cost_usd"] == pytest.approx(b["cost_usd"], rel=1e-9)
        assert a["tokens_per_s"] == pytest.approx(b["tokens_per_s"], rel=1e-9)


@pytest.mark.parametrize(("dimension", "one"), [("prompt_version", "pv_2"), ("feature", "search")])
def test_dimension_rollup_and_raw_paths_agree(
    server: Server, traffic: Any, dimension: str, one: str
) -> None:
    """Hourly sums by prompt version (or feature) come from the per-dimension rollup; a
    filter forces raw."""
    key, events, start = traffic
    regions = sorted({e["region"] for e in events})
    base = [("from", start.isoformat()), ("metric", "cost_usd"), ("interval", "1h"),
            ("group_by", dimension)]  # fmt: skip
    with server.client(key) as http:
        rolled = http.get("/v1/metrics/timeseries", params=base).json()["series"]
        raw = http.get(
            "/v1/metrics/timeseries", params=base + [("region", r) for r in regions]
        ).json()["series"]
    assert [s["key"] for s in rolled] == [s["key"] for s in raw]
    for a, b in zip(rolled, raw, strict=True):
        assert [p["t"] for p in a["points"]] == [p["t"] for p in b["points"]]
        assert [p["value"] for p in a["points"]] == pytest.approx(
            [p["value"] for p in b["points"]], rel=1e-9
        )
    expected: dict[str, float] = {}
    for e in events:
        expected[e[dimension]] = expected.get(e[dimension], 0) + (expected_cost(e) or 0)
    totals = {s["key"][dimension]: sum(p["value"] for p in s["points"]) for s in rolled}
    assert totals == pytest.approx(expected, rel=1e-6)
    # Filtered on the grouped dimension itself: still the rollup, same numbers.
    with server.client(key) as http:
        chosen = http.get("/v1/metrics/timeseries", params=[*base, (dimension, one)]).json()
    assert [s["key"] for s in chosen["series"]] == [{dimension: one}]
    total = sum(p["value"] for p in chosen["series"][0]["points"])
    assert total == pytest.approx(expected[one], rel=1e-6)


def test_model_comparison_histogram_matches_numpy(server: Server, traffic: Any) -> None:
    key, events, start = traffic
    chosen = ["gpt-4o", "claude-sonnet-4-5"]
    with server.client(key) as http:
        r = http.get(
            "/v1/models/compare",
            params=[("from", start.isoformat()), *(("model_id", m) for m in chosen)],
        )
    body = r.json()
    assert set(body["models"]) == set(chosen)
    edges = np.array(body["bin_edges_ms"])
    assert len(edges) == 65 and edges[0] == pytest.approx(1.0)
    for model in chosen:
        latency = np.array([e["latency_ms"] for e in events if e["model_id"] == model])
        bins = np.minimum(63, np.floor(4.0 * np.log(np.maximum(latency, 1.0)))).astype(int)
        assert body["models"][model]["histogram"] == np.bincount(bins, minlength=64).tolist()
        sample = body["models"][model]["sample"]
        assert 0 < len(sample) <= 1500
        sent = {
            (e["tokens_in"] + e["tokens_out"], e["latency_ms"], e["status"])
            for e in events
            if e["model_id"] == model
        }
        assert all(tuple(s) in sent for s in sample)
    assert [g["key"]["model_id"] for g in body["summary"]] == sorted(
        chosen, key=lambda m: -sum(e["model_id"] == m for e in events)
    )


def test_unset_error_type_and_finish_reason_are_null(server: Server, project_key: str) -> None:
    """No error is not an error type, no finish reason is not a reason: null in every
    answer, single events, pages of the log, traces, group keys and series keys alike."""
    trace = "1f2e3d4c5b6a79881f2e3d4c5b6a7988"
    base = {"latency_ms": 10, "trace_id": trace, "session_id": "s-null"}
    sent = [
        {**base, "model_id": "m", "event_id": "null-ok", "span_id": "a1"},
        {
            **base,
            "model_id": "m",
            "event_id": "null-stop",
            "finish_reason": "stop",
            "span_id": "a2",
        },
        {**base, "model_id": "m", "status": "error", "error_type": "timeout", "span_id": "a3"},
    ]
    with server.client(project_key) as http:
        assert http.post("/v1/events", json=sent).status_code == 202
        server.wait_loaded()
        one = http.get("/v1/requests/null-ok").json()
        assert one["error_type"] is None and one["finish_reason"] is None
        assert http.get("/v1/requests/null-stop").json()["finish_reason"] == "stop"
        log = http.get("/v1/requests").json()["requests"]
        assert sorted((e["error_type"] or "-", e["finish_reason"] or "-") for e in log) == [
            ("-", "-"), ("-", "stop"), ("timeout", "-")
        ]  # fmt: skip
        related = http.get("/v1/requests/null-ok/related").json()
        assert sorted(e["error_type"] or "-" for e in related["session"]) == ["-", "timeout"]
        assert None in [e["error_type"] for e in related["session"]]
        spans = http.get(f"/v1/traces/{trace}").json()["spans"]
        assert sorted(s["error_type"] or "-" for s in spans) == ["-", "-", "timeout"]
        groups = http.get("/v1/metrics/summary", params={"group_by": "error_type"}).json()
        assert {g["key"]["error_type"]: g["requests"] for g in groups["groups"]} == {
            None: 2, "timeout": 1
        }  # fmt: skip
        series = http.get(
            "/v1/metrics/timeseries", params={"group_by": "error_type", "from": "-1h"}
        ).json()["series"]
        assert sorted(s["key"]["error_type"] or "-" for s in series) == ["-", "timeout"]

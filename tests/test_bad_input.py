"""Each bad-input rule: its status code, the field named, and the server still serving."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from conftest import Server

GOOD = {"model_id": "gpt-4o", "latency_ms": 120.5}


def post(server: Server, key: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **headers}
    with server.client(key) as http:
        return http.post("/v1/events", content=content, headers=headers)


def future(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


@pytest.mark.parametrize(
    ("event", "field", "message"),
    [
        ({"latency_ms": 5}, "model_id", "Field required"),
        ({"model_id": "m"}, "latency_ms", "Field required"),
        ({**GOOD, "model_id": ""}, "model_id", "at least 1 character"),
        ({**GOOD, "latency_ms": -1}, "latency_ms", "greater than or equal to 0"),
        ({**GOOD, "latency_ms": 3_600_001}, "latency_ms", "less than or equal to 3600000"),
        ({**GOOD, "latency_ms": "fast"}, "latency_ms", "valid number"),
        ({**GOOD, "ttft_ms": 500}, "ttft_ms", "must not exceed latency_ms"),
        ({**GOOD, "ttft_ms": -2}, "ttft_ms", "greater than or equal to 0"),
        ({**GOOD, "tokens_in": -1}, "tokens_in", "greater than or equal to 0"),
        ({**GOOD, "tokens_out": 10_000_001}, "tokens_out", "less than or equal to 10000000"),
        ({**GOOD, "status": "maybe"}, "status", "'ok' or 'error'"),
        ({**GOOD, "error_type": "oops"}, "error_type", "'timeout'"),
        ({**GOOD, "status": "ok", "error_type": "timeout"}, "status", "must be 'error'"),
        ({**GOOD, "operation": "dance"}, "operation", "'chat'"),
        ({**GOOD, "ts": future(10)}, "ts", "5 minutes in the future"),
        ({**GOOD, "ts": "yesterday-ish"}, "ts", "valid datetime"),
        ({**GOOD, "ts": "2020-01-01T00:00:00Z"}, "ts", "retention window"),
        ({**GOOD, "user_id": "u" * 257}, "user_id", "at most 256 characters"),
        ({**GOOD, "prompt": "p" * 1_000_001}, "prompt", "at most 1000000 characters"),
        (
            {**GOOD, "metadata": {"nested": {"a": 1}}},
            "metadata.nested",
            "must be a string, number or boolean",
        ),
        ({**GOOD, "tags": "one"}, "tags", "valid list"),
        ({**GOOD, "experiment": {"name": "x"}}, "experiment.variant", "Field required"),
        ({**GOOD, "http_status": 999}, "http_status", "less than or equal to 599"),
        ({**GOOD, "cost_usd": -0.5}, "cost_usd", "greater than or equal to 0"),
        ({**GOOD, "cost_usd": 1e308}, "cost_usd", "less than or equal to 10000"),
        ({**GOOD, "cost_usd": 10_000.01}, "cost_usd", "less than or equal to 10000"),
        ({**GOOD, "metadata": {"k": "v" * 9_000_000}}, "metadata.k", "at most 4096 characters"),
        (
            {**GOOD, "metadata": {f"k{i}": i for i in range(100_000)}},
            "metadata",
            "at most 128 items",
        ),
        ({**GOOD, **{f"extra{i}": i for i in range(129)}}, "metadata", "at most 128 keys"),
        ({**GOOD, "notes": "n" * 5000}, "notes", "at most 4096 characters as JSON text"),
        (["not", "an", "object"], "", "must be a JSON object"),
    ],
)
def test_invalid_event_rejected_with_field(
    server: Server, project_key: str, event: Any, field: str, message: str
) -> None:
    r = post(server, project_key, [event])
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["accepted"] == 0 and body["rejected"] == 1
    assert body["errors"][0]["index"] == 0
    assert body["errors"][0]["field"] == field
    assert message in body["errors"][0]["error"]
    # Also an error answer like every other: `error` says why, `detail` names the field.
    assert body["error"].startswith("no event could be stored: event 0: ")
    assert body["detail"][0] == {"field": field, "error": body["errors"][0]["error"]}


def test_valid_events_kept_when_others_in_batch_fail(server: Server, project_key: str) -> None:
    batch = [GOOD, {"model_id": "m"}, {**GOOD, "ttft_ms": 1}, {**GOOD, "latency_ms": -5}]
    r = post(server, project_key, batch)
    assert r.status_code == 202
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (2, 2)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "latency_ms"),
        (3, "latency_ms"),
    ]
    server.wait_loaded()
    with server.client(project_key) as http:
        summary = http.get("/v1/metrics/summary").json()["groups"][0]
        rejected = http.get("/v1/rejected").json()["rejected"]
    assert summary["requests"] == 2
    assert sorted(
        orjson.loads(r["raw"])["latency_ms"] for r in rejected if "latency_ms" in r["raw"]
    ) == [-5]
    assert sorted(r["reason"] for r in rejected) == [
        "latency_ms: Field required",
        "latency_ms: Input should be greater than or equal to 0",
    ]


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b'{"model_id": "m", "latency_ms": ', {}, 400, "malformed JSON"),
        (b"not gzip at all", {"Content-Encoding": "gzip"}, 400, "malformed gzip"),
        (b"[]", {}, 400, "no events"),
        (orjson.dumps([GOOD] * 10_001), {}, 413, "limit is 10000"),
        (b"x" * (10 * 1024 * 1024 + 1), {}, 413, "exceeds"),
        (
            gzip.compress(b"[" + b" " * (11 * 1024 * 1024) + b"]"),
            {"Content-Encoding": "gzip"},
            413,
            "decompressed",
        ),
        (orjson.dumps(GOOD), {"Content-Type": "text/csv"}, 415, "unsupported content type"),
        (orjson.dumps(GOOD), {"Content-Encoding": "br"}, 415, "unsupported encoding"),
    ],
)
def test_unreadable_body(
    server: Server,
    project_key: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    r = post(server, project_key, body, **headers)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert r.json()["detail"][0]["field"]
    assert httpx.get(f"{server.url}/health").status_code == 200


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("bad", "field", "reason"),
    [
        ({**GOOD, "deep": nested(300)}, "deep", "cannot be stored (Recursion limit reached)"),
        ({**GOOD, "cost_usd": 1e308}, "cost_usd", "less than or equal to 10000"),
        ({**GOOD, "ts": 10**30}, "ts", "valid datetime"),
        ({**GOOD, "tokens_out": 2**70}, "tokens_out", "exceeded maximum size"),
    ],
)
def test_one_bad_event_is_rejected_alone(
    server: Server, project_key: str, bad: dict[str, Any], field: str, reason: str
) -> None:
    """An event that once failed its whole batch with a 500 is rejected by itself, kept as
    a dead letter, and the rest of the batch is stored."""
    # The standard library writes what orjson refuses (nesting past 255, big integers).
    body = json.dumps([GOOD, bad, GOOD]).encode()
    r = post(server, project_key, body)
    assert r.status_code == 202, r.text
    answer = r.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 1)
    error = answer["errors"][0]
    assert (error["index"], error["field"]) == (1, field) and reason in error["error"]
    server.wait_loaded()
    with server.client(project_key) as http:
        assert http.get("/v1/metrics/summary").json()["groups"][0]["requests"] == 2
        rejected = http.get("/v1/rejected").json()["rejected"]
    assert [r["reason"] for r in rejected] == [f"{field}: {error['error']}"]


def test_a_malformed_ndjson_line_is_rejected_alone(server: Server, project_key: str) -> None:
    body = b'{"model_id":"m","latency_ms":1}\n{oops}\n{"model_id":"m","latency_ms":2}\n'
    r = post(server, project_key, body, **{"Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text
    answer = r.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 1)
    assert answer["errors"][0]["index"] == 1
    assert answer["errors"][0]["error"].startswith("malformed JSON on line 2")
    server.wait_loaded()
    with server.client(project_key) as http:
        rejected = http.get("/v1/rejected").json()["rejected"]
    assert [r["raw"] for r in rejected] == ["{oops}"]
    only_bad = post(server, project_key, b"{oops}\n", **{"Content-Type": "application/x-ndjson"})
    assert only_bad.status_code == 400 and only_bad.json()["rejected"] == 1


def test_every_gzip_member_is_read(server: Server, project_key: str) -> None:
    """`cat a.gz b.gz` is one gzip body: both members' events are stored, an NDJSON body
    and a JSON array cut in the middle alike."""
    ndjson = [orjson.dumps({**GOOD, "latency_ms": n}) + b"\n" for n in range(5)]
    body = gzip.compress(b"".join(ndjson[:3])) + gzip.compress(b"".join(ndjson[3:]))
    r = post(server, project_key, body, **{"Content-Encoding": "gzip",
                                           "Content-Type": "application/x-ndjson"})  # fmt: skip
    assert r.status_code == 202 and r.json()["accepted"] == 5, r.text
    array = orjson.dumps([GOOD] * 4)
    body = gzip.compress(array[:30]) + gzip.compress(array[30:])
    r = post(server, project_key, body, **{"Content-Encoding": "gzip"})
    assert r.status_code == 202 and r.json()["accepted"] == 4, r.text
    truncated = gzip.compress(array) + gzip.compress(array)[:20]
    r = post(server, project_key, truncated, **{"Content-Encoding": "gzip"})
    assert r.status_code == 400 and "truncated" in r.json()["error"]
    server.wait_loaded()
    with server.client(project_key) as http:
        assert http.get("/v1/metrics/summary").json()["groups"][0]["requests"] == 9


def test_largest_accepted_costs_keep_totals_and_pages_sound(
    server: Server, project_key: str
) -> None:
    """At the cost bound, totals stay exact and the pages that sum costs answer."""
    events = [{**GOOD, "cost_usd": 10_000, "user_id": f"u{i % 7}"} for i in range(2000)]
    assert post(server, project_key, events).status_code == 202
    server.wait_loaded()
    with server.client(project_key) as http:
        total = http.get("/v1/metrics/summary").json()["groups"][0]["cost_usd"]
        assert total == pytest.approx(2000 * 10_000, rel=1e-12)
        http.cookies.set("llmpulse_key", project_key)
        for page in ("/", "/costs", "/users"):
            assert http.get(page, headers={"Authorization": ""}).status_code == 200, page


def test_malformed_body_kept_in_dead_letter(server: Server, project_key: str) -> None:
    assert post(server, project_key, b'{"model_id": broken').status_code == 400
    server.wait_loaded()
    with server.client(project_key) as http:
        rejected = http.get("/v1/rejected").json()["rejected"]
    assert rejected[0]["raw"] == '{"model_id": broken'
    assert "malformed JSON" in rejected[0]["reason"]


def test_accepted_forms_and_unknown_fields(server: Server, project_key: str) -> None:
    single = {
        **GOOD,
        "event_id": "a3d7f6a8-0000-4000-8000-000000000001",
        "team": "search",
        "retries": 2,
    }
    ndjson = b"\n".join(orjson.dumps({**GOOD, "tags": ["nd"]}) for _ in range(3)) + b"\n"
    assert post(server, project_key, single).status_code == 202
    assert (
        post(server, project_key, ndjson, **{"Content-Type": "application/x-ndjson"}).status_code
        == 202
    )
    zipped = gzip.compress(orjson.dumps([GOOD, GOOD]))
    assert post(server, project_key, zipped, **{"Content-Encoding": "gzip"}).status_code == 202
    server.wait_loaded()
    with server.client(project_key) as http:
        assert http.get("/v1/metrics/summary").json()["groups"][0]["requests"] == 6
        stored = http.get(f"/v1/requests/{single['event_id']}").json()
    assert stored["metadata"] == {"team": "search", "retries": "2"}
    assert stored["provider"] == "openai"


def test_query_parameters_checked(server: Server, project_key: str) -> None:
    cases = [
        ("/v1/metrics/summary?group_by=colour", "group_by"),
        ("/v1/metrics/summary?from=tomorrow", "from"),
        ("/v1/metrics/summary?from=-1h&to=-2h", "from"),
        ("/v1/metrics/summary?modelid=x", "modelid"),
        ("/v1/metrics/timeseries?metric=vibes", "metric"),
        ("/v1/metrics/timeseries?interval=7s", "interval"),
        ("/v1/metrics/timeseries?interval=1m&from=-30d", "interval"),
        ("/v1/requests?limit=0", "limit"),
        ("/v1/requests?cursor=nonsense", "cursor"),
        ("/v1/metrics/summary?from=2026-13-45", "from"),
    ]
    with server.client(project_key) as http:
        for url, field in cases:
            r = http.get(url)
            assert r.status_code == 400, (url, r.text)
            assert r.json()["detail"][0]["field"] == field, (url, r.json())
        missing = http.get("/v1/requests/0b7e4f4e-8a1c-4a43-9d55-3c2a7f0e9b11")
    assert missing.status_code == 404
    assert "no event" in missing.json()["error"]


@pytest.mark.parametrize(
    "query",
    [
        "from=-100000000d",
        "from=-99999999999999999999d",
        "from=-1000000w",
        "from=0001-01-01T00:00:00Z",
        "from=1969-12-31T23:59:59Z",
        "from=-1h&to=9999-01-01T00:00:00Z",
    ],
)
def test_time_bounds_out_of_range(server: Server, project_key: str, query: str) -> None:
    """A time the store cannot hold is a 422 naming the parameter and the accepted range;
    nothing of the store's own error text reaches the client."""
    param = "to" if "to=" in query else "from"
    with server.client(project_key) as http:
        for path in ("/v1/metrics/summary", "/v1/metrics/timeseries", "/v1/requests"):
            r = http.get(f"{path}?{query}")
            assert r.status_code == 422, (path, r.text)
            assert r.json()["detail"] == [{"field": param, "error": r.json()["detail"][0]["error"]}]
            assert "between 1970-01-01 and 2100-01-01 (UTC)" in r.json()["error"]
            assert "DB::Exception" not in r.text and "Code:" not in r.text


def test_extreme_latencies_keep_percentiles_answering(server: Server, project_key: str) -> None:
    """A latency of 1e-300 ms beside one of an hour once stretched the percentile sketch
    past ClickHouse's key range: every summary of the project answered 503."""
    events = [{**GOOD, "latency_ms": v, "ttft_ms": v / 2} for v in (1e-300, 3_600_000, 5e-4, 812)]
    assert post(server, project_key, events).status_code == 202
    server.wait_loaded()
    with server.client(project_key) as http:
        r = http.get("/v1/metrics/summary")
        assert r.status_code == 200, r.text
        latency = r.json()["groups"][0]["latency_ms"]
        assert latency["avg"] == pytest.approx((0.001 + 812 + 3_600_000) / 4)
        assert latency["p50"] is not None and latency["p99"] is not None
        stored = sorted(e["latency_ms"] for e in http.get("/v1/requests").json()["requests"])
    assert stored == [0.0, 0.001, 812.0, 3_600_000.0]  # to the microsecond

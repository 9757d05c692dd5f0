"""Query latency over 10 million events spread over 7 days, and bytes per event on disk.

The events are generated inside ClickHouse (log-normal latencies and TTFT per model, an
error mix, users, sessions, an A/B experiment) straight into `llm_events` of a fresh
store, so loading takes seconds; then `llmpulse serve` runs on that store and each query
is timed over HTTP (median of 5). Run: python bench/query.py [--events 10000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from common import machine, rss_mib, start_server, timed
from llmpulse.store import open_engine
from llmpulse.store.migrate import migrate

# model, provider, median latency ms, sigma, median ttft ms, price in/out per M tokens
MODELS = [
    ("gpt-4o", "openai", 950, 0.45, 380, 2.5, 10.0),
    ("gpt-4o-mini", "openai", 520, 0.40, 210, 0.15, 0.6),
    ("claude-sonnet-4-5", "anthropic", 1500, 0.50, 620, 3.0, 15.0),
    ("claude-haiku-4-5", "anthropic", 650, 0.40, 260, 1.0, 5.0),
    ("gemini-2.5-flash", "google", 720, 0.55, 300, 0.3, 2.5),
    ("grok-4", "x-ai", 1700, 0.60, 800, 3.0, 15.0),
    ("llama3.1:8b", "ollama", 2300, 0.35, 450, 0.0, 0.0),
]


def fill(data_dir: Path, events: int, days: int) -> tuple[float, float]:
    """Generate the events in the store; returns (seconds taken, bytes per event on disk)."""
    engine = open_engine(f"chdb://{data_dir / 'store'}")
    migrate(engine)
    arr = lambda i: "[" + ",".join(repr(m[i]) for m in MODELS) + "]"  # noqa: E731
    end = datetime.now(UTC).replace(microsecond=0)
    start_s = int((end - timedelta(days=days)).timestamp())
    span_ms = days * 86_400_000
    started = time.perf_counter()
    chunk = 2_000_000
    for offset in range(0, events, chunk):
        n = min(chunk, events - offset)
        engine.execute(f"""
            INSERT INTO llm_events
            SELECT
                'default' AS project,  -- the project of --no-auth
                fromUnixTimestamp64Milli(toInt64({start_s} * 1000 + intDiv((number + {offset}) * {span_ms}, {events})), 'UTC') AS ts,
                generateUUIDv4(number) AS event_id,
                ts AS received_at,
                {arr(0)}[m] AS model_id, '' AS model_version, {arr(1)}[m] AS provider,
                ['pv_1','pv_2','pv_3'][1 + (h % 3)] AS prompt_version,
                'reranker_v2' AS experiment_name, if(u % 2 = 0, 'A', 'B') AS experiment_variant,
                'chat' AS operation, if(err, 'error', 'ok') AS status,
                if(err, ['rate_limit','timeout','server_error','content_filter','context_length'][1 + (h % 5)], '') AS error_type,
                ['us-east','eu-central','ap-south'][1 + (h % 3)] AS region,
                if(h % 7 = 0, 'staging', 'production') AS environment,
                ['web','ios','android','api'][1 + (u % 4)] AS client_app, ['macos','windows','ios','android','linux'][1 + (u % 5)] AS client_os,
                if(err, '', 'stop') AS finish_reason,
                concat('user_', toString(u)) AS user_id,
                concat('sess_', toString(u), '_', toString(intDiv(number + {offset}, 5000))) AS session_id,
                toString(generateUUIDv4(number + 1)) AS request_id,
                '' AS trace_id, '' AS span_id, '' AS parent_span_id,
                round({arr(2)}[m] * exp({arr(3)}[m] * randNormal(0, 1)), 2) AS latency_ms,
                if(h % 10 < 7, least(latency_ms, round({arr(4)}[m] * exp(0.35 * randNormal(0, 1)), 2)), NULL) AS ttft_ms,
                toUInt32(700 * exp(0.7 * randNormal(0, 1))) + 1 AS tokens_in,
                if(err, 0, toUInt32(260 * exp(0.6 * randNormal(0, 1))) + 1) AS tokens_out,
                0 AS tokens_cached, 0 AS tokens_reasoning,
                if(m = 7, NULL, (tokens_in * {arr(5)}[m] + tokens_out * {arr(6)}[m]) / 1e6) AS cost_usd,
                if(m = 7, 'unpriced', 'catalogue') AS cost_source,
                h % 10 < 7 AS stream, 0.7 AS temperature, 1024 AS max_tokens,
                if(err, 429, 200) AS http_status,
                '' AS prompt, '' AS completion, map() AS metadata, [] AS tags
            FROM (
                SELECT number,
                    1 + (cityHash64(number, 1) % 7) AS m,
                    cityHash64(number, 2) AS h,
                    cityHash64(number, 3) % 2000 AS u,
                    (cityHash64(number, 4) % 1000) < 50 AS err
                FROM numbers({n})
            )
        """)
    elapsed = time.perf_counter() - started
    engine.execute("OPTIMIZE TABLE llm_events FINAL")
    size = engine.rows(
        "SELECT sum(bytes_on_disk) AS b, sum(rows) AS r FROM system.parts "
        "WHERE active AND table = 'llm_events' AND database = currentDatabase()"
    )[0]
    engine.close()
    return elapsed, size["b"] / size["r"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        fill_s, per_event = fill(data_dir, args.events, args.days)
        proc, url = start_server(data_dir)
        day_ago = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        queries = {
            "summary by model_id, 7 days": (
                "/v1/metrics/summary",
                {"from": f"-{args.days}d", "group_by": "model_id"},
            ),
            "latency_p95 1m timeseries, 1 day": (
                "/v1/metrics/timeseries",
                {"from": day_ago, "metric": "latency_p95", "interval": "1m"},
            ),
            "latency_p95 1m by model, 1 day": (
                "/v1/metrics/timeseries",
                {
                    "from": day_ago,
                    "metric": "latency_p95",
                    "interval": "1m",
                    "group_by": "model_id",
                },
            ),
            "top errors, 7 days": ("/v1/errors/top", {"from": f"-{args.days}d"}),
            "newest 50 requests": ("/v1/requests", {"from": f"-{args.days}d"}),
        }
        results = []
        with httpx.Client(base_url=url, timeout=120) as http:
            count = http.get("/v1/metrics/summary", params={"from": f"-{args.days + 1}d"}).json()[
                "groups"
            ]
            for name, (path, params) in queries.items():
                ms, size = timed(http, path, params)
                results.append((name, ms, size))
        rss = rss_mib(proc.pid)
        proc.terminate()
        proc.wait()
    print(f"machine: {machine()}")
    print(
        f"events: {args.events:,} over {args.days} days (generated in ClickHouse in {fill_s:.1f}s); "
        f"rows seen by the API: {sum(g['requests'] for g in count):,}"
    )
    for name, ms, size in results:
        print(f"{name}: {ms:.0f} ms median of 5 ({size:,} bytes of JSON)")
    print(f"storage: {per_event:.1f} bytes per event on disk (after merges)")
    print(f"server RSS after the queries: {rss:.0f} MiB")


if __name__ == "__main__":
    main()

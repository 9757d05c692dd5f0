"""Drift and data-quality reports over 10 million events of 30 days: the drift report on
14 monitored columns with 5 million calls a side, and the quality report over the 30 days.

The events are generated inside ClickHouse straight into a fresh store: seven models,
errors, stream TTFTs, prompt versions, features, and text descriptors (lengths, sentiment,
refusals, language); in the second half one model is 30% slower and a prompt version
refuses more. Then `llmpulse serve` runs on that store and each answer is timed over HTTP
(median of 5).
Run: python bench/drift_quality.py [--events 10000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from common import fresh_store, generate, machine, rss_mib, start_server, timed

DAYS = 30
COLUMNS = ("latency_ms,ttft_ms,tokens_in,tokens_out,cost_usd,tokens_per_s,model_id,provider,"
           "error_type,finish_reason,prompt_version,feature,completion_chars,refusal")  # fmt: skip


def fill(data_dir: Path, events: int) -> tuple[float, datetime]:
    """Generate the events; the seconds taken and the time splitting them in halves."""
    engine, end, start_s, span_ms = fresh_store(data_dir, DAYS)
    models = "['gpt-4o','gpt-4o-mini','claude-sonnet-4-5','claude-haiku-4-5','gemini-2.5-flash','grok-4','llama3.1:8b']"
    providers = "['openai','openai','anthropic','anthropic','google','x-ai','ollama']"

    def chunk_sql(offset: int, n: int) -> str:
        return f"""
            INSERT INTO llm_events (project, ts, event_id, received_at, model_id, provider,
                prompt_version, feature, operation, status, error_type, finish_reason, stream,
                user_id, session_id, latency_ms, ttft_ms, tokens_in, tokens_out, cost_usd,
                cost_source, prompt_chars, prompt_words, completion_chars, completion_words,
                completion_sentiment, completion_nonletter_share, refusal, language)
            SELECT 'default', ts, generateUUIDv4(number), ts + toIntervalMillisecond(200 + h % 800),
                {models}[m], {providers}[m], pv, ['search','summarize','export','chat'][1 + h % 4],
                'chat', if(err, 'error', 'ok'), if(err, ['timeout','rate_limit','server_error'][1 + h % 3], ''),
                if(err, '', if(h % 14 = 0, 'length', 'stop')), h % 10 < 7,
                concat('u', toString(h % 50000)), concat('s', toString(h % 400000)),
                latency, if(h % 10 < 7, latency * 0.3, NULL), 300 + h % 900, if(err, 0, 100 + h % 400),
                (300 + h % 900) * 2.5e-6 + (100 + h % 400) * 1e-5, 'catalogue',
                400 + h % 1200, 70 + h % 200, if(err, NULL, 300 + h % 1500), if(err, NULL, 50 + h % 250),
                if(err, NULL, ((h % 2001) - 1000) / 1000), if(err, NULL, (h % 300) / 1000),
                if(err, NULL, (h % 1000) < if(late AND pv = 'pv_3', 120, 20)), ['en','en','en','fr','de','es'][1 + h % 6]
            FROM (
                SELECT number, cityHash64(number + {offset}) AS h,
                    1 + (h % 7) AS m,
                    fromUnixTimestamp64Milli(toInt64({start_s} * 1000 + (number + {offset}) * {span_ms} / {events}), 'UTC') AS ts,
                    (number + {offset}) >= {events // 2} AS late,
                    ['pv_1','pv_2','pv_3'][1 + intDiv(h, 7) % 3] AS pv,
                    (intDiv(h, 13) % 100) < 5 AS err,
                    round(600 * exp(0.5 * randNormal(0, 1)) * if(late AND m = 1, 1.3, 1.0), 2) AS latency
                FROM numbers({n})
            )
        """  # fmt: skip

    started = time.perf_counter()
    generate(engine, events, chunk_sql)
    engine.execute("OPTIMIZE TABLE llm_events FINAL")
    engine.close()
    return time.perf_counter() - started, end - timedelta(days=DAYS / 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        fill_s, middle = fill(data_dir, args.events)
        start, end = middle - timedelta(days=DAYS / 2), middle + timedelta(days=DAYS / 2, hours=1)
        windows = {
            "reference": f"{start.isoformat()}..{middle.isoformat()}",
            "current": f"{middle.isoformat()}..{end.isoformat()}",
        }
        queries = {
            "drift, 14 columns, 5M calls a side": ("/v1/drift", {**windows, "columns": COLUMNS}),
            "drift, all 22 columns": ("/v1/drift", windows),
            "quality, 30 days": ("/v1/quality", {"from": f"-{DAYS + 1}d"}),
        }
        proc, url = start_server(data_dir)
        results = []
        with httpx.Client(base_url=url, timeout=600) as http:
            for name, (path, params) in queries.items():
                results.append((name, *timed(http, path, params)))
            report = http.get("/v1/drift", params={**windows, "columns": COLUMNS}).json()
        rss = rss_mib(proc.pid)
        proc.terminate()
        proc.wait()
    print(f"machine: {machine()}")
    print(f"events: {args.events:,} over {DAYS} days (generated in {fill_s:.1f}s)")
    for name, ms, size in results:
        print(f"{name}: {ms:.0f} ms median of 5 ({size / 1024:.0f} KiB)")
    print(f"server RSS after the queries: {rss:.0f} MiB")
    print(
        f"drift found: {', '.join(c['column'] for c in report['columns'] if c['drifted'])} "
        f"(sides {report['reference']['events']:,} and {report['current']['events']:,} calls, "
        f"sampled {report['reference']['sampled']:,} and {report['current']['sampled']:,})"
    )


if __name__ == "__main__":
    main()

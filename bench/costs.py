"""Cost intelligence over 10 million events of 30 days: recommendations, failover advice,
prompt caching, the spend forecast and capacity, each timed over HTTP (median of 5); then
re-costing all 10 million calls after a price change while ingest goes on.

The events are generated inside ClickHouse straight into a fresh store: six catalogue
models over four features, errors with rate-limit bursts, prompt prefix hashes. Their
stored costs are deliberately off (as if the catalogue had changed), so the re-costing
rewrites every call. During it a client posts a small batch every 100 ms and records how
long each takes to be acknowledged, and the loader's pause (the job's time in the loader's
thread) is reported. Run: python bench/costs.py [--events 10000000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from common import fresh_store, generate, machine, rss_mib, start_server, timed, wait_drained

DAYS = 30


def fill(data_dir: Path, events: int) -> float:
    engine, _, start_s, span_ms = fresh_store(data_dir, DAYS)
    models = "['gpt-4o','gpt-4o-mini','claude-sonnet-4-5','claude-haiku-4-5','gemini-2.5-flash','grok-4']"
    providers = "['openai','openai','anthropic','anthropic','google','x-ai']"

    def chunk_sql(offset: int, n: int) -> str:
        return f"""
            INSERT INTO llm_events (project, ts, event_id, received_at, model_id, provider,
                feature, prompt_prefix_hash, operation, status, error_type, latency_ms,
                tokens_in, tokens_out, tokens_cached, cost_usd, cost_source)
            SELECT 'default', ts, generateUUIDv4(number), ts, {models}[m], {providers}[m],
                ['search','summarize','export','chat'][1 + h % 4],
                if(h % 3 = 0, concat('p', toString(h % 500)), ''), 'chat',
                if(err, 'error', 'ok'), if(err, if(toHour(ts) = 14, 'rate_limit', 'timeout'), ''),
                round(600 * exp(0.5 * randNormal(0, 1)), 2), 300 + h % 900, 100 + h % 400,
                if(h % 5 = 0, 200, 0), 0.001, 'catalogue'
            FROM (
                SELECT number, cityHash64(number + {offset}) AS h, 1 + (h % 6) AS m,
                    fromUnixTimestamp64Milli(toInt64({start_s} * 1000 + (number + {offset}) * {span_ms} / {events}), 'UTC') AS ts,
                    (intDiv(h, 13) % 100) < if(toHour(ts) = 14 AND m = 1, 30, 3) AS err
                FROM numbers({n})
            )
        """  # fmt: skip

    started = time.perf_counter()
    generate(engine, events, chunk_sql)
    engine.execute("OPTIMIZE TABLE llm_events FINAL")
    engine.close()
    return time.perf_counter() - started


def recost_under_ingest(http: httpx.Client) -> dict[str, float]:
    """Re-cost everything while a client posts a batch every 100 ms."""
    acks: list[float] = []
    stop = threading.Event()

    def ingest() -> None:
        with httpx.Client(base_url=str(http.base_url), timeout=60) as client:
            while not stop.is_set():
                batch = [{"model_id": "gpt-4o", "latency_ms": 300, "tokens_in": 500,
                          "tokens_out": 100, "feature": "search"} for _ in range(50)]  # fmt: skip
                t0 = time.perf_counter()
                assert client.post("/v1/events", json=batch).status_code == 202
                acks.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.1)

    sender = threading.Thread(target=ingest)
    sender.start()
    time.sleep(1)
    started = time.perf_counter()
    job = http.post("/v1/pricing/recost", json={"from": "2000-01-01"}).json()
    while job["state"] in ("queued", "running"):
        time.sleep(0.5)
        job = http.get(f"/v1/pricing/recost/{job['id']}").json()
    total = time.perf_counter() - started
    stop.set()
    sender.join()
    assert job["state"] == "done", job
    again = http.post("/v1/pricing/recost", json={"from": "2000-01-01"}).json()
    while again["state"] in ("queued", "running"):
        time.sleep(0.5)
        again = http.get(f"/v1/pricing/recost/{again['id']}").json()
    return {
        "seconds": total,
        "changed": job["changed"],
        "again_changed": again["changed"],
        "ack_p50": statistics.median(acks),
        "ack_max": max(acks),
        "acks": len(acks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    args = parser.parse_args()
    month = {"from": f"-{DAYS}d"}
    queries = {
        "recommendations, 30 days": ("/v1/costs/recommendations", month),
        "failover advice, 30 days": ("/v1/costs/routing", month),
        "prompt caching, 30 days": ("/v1/costs/caching", month),
        "spend forecast, 30 days ahead": ("/v1/costs/forecast", {"from": f"-{DAYS}d"}),
        "capacity, 30 days": ("/v1/costs/capacity", month),
    }
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        fill_s = fill(data_dir, args.events)
        proc, url = start_server(data_dir)
        results = []
        with httpx.Client(base_url=url, timeout=600) as http:
            for name, (path, params) in queries.items():
                results.append((name, *timed(http, path, params)))
            advice = http.get("/v1/costs/recommendations", params=month).json()
            recost = recost_under_ingest(http)
            drained = wait_drained(url)
        rss = rss_mib(proc.pid)
        proc.terminate()
        proc.wait()
    print(f"machine: {machine()}")
    print(f"events: {args.events:,} over {DAYS} days (generated in {fill_s:.1f}s)")
    for name, ms, size in results:
        print(f"{name}: {ms:.0f} ms median of 5 ({size / 1024:.0f} KiB)")
    print(f"recommended: {len(advice['recommended'])}, monthly saving "
          f"${advice['monthly_saving']:,.0f}")  # fmt: skip
    print(
        f"re-costing every call: {recost['changed']:,} calls in {recost['seconds']:.1f}s; "
        f"again: {recost['again_changed']:,} changed"
    )
    print(
        f"ingest meanwhile: {recost['acks']:.0f} batches acknowledged, p50 "
        f"{recost['ack_p50']:.1f} ms, max {recost['ack_max']:.1f} ms; spool drained "
        f"{drained:.1f}s after"
    )
    print(f"server RSS after: {rss:.0f} MiB")


if __name__ == "__main__":
    main()

"""Social posts and logs: ingest rates and read times (docs/benchmarks.md).

- http: simulated posts (llmpulse.sim.social) sent as NDJSON batches of 1,000 by 4 client
  threads to POST /v1/social/posts; posts/s from the first request until every post is in
  the store (enriched: VADER, entities, tags).
- amqp: the same posts published to RabbitMQ (one message each, confirmed), then
  `llmpulse social consume` until the queue is empty and every post is stored.
- page: 5M posts over 30 days generated inside ClickHouse; the Social page and its JSON
  twins timed over 30 days and over 24 hours.
- logs: 10M log lines over 30 days generated inside ClickHouse; text search, level
  filter and counts timed.

Run: python bench/social.py [--posts N] [--only http,amqp,page,logs]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

from common import fresh_store, generate, machine, start_server, wait_drained

AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def posts(n: int) -> list[bytes]:
    """NDJSON bodies of 1,000 simulated posts over the last hour."""
    from llmpulse.sim.social import PostGenerator

    gen = PostGenerator(seed=1)
    start = datetime.now(UTC) - timedelta(hours=1)
    lines = [orjson.dumps(gen.event(start + timedelta(seconds=3600 * i / n))) for i in range(n)]
    return [b"\n".join(lines[i : i + 1000]) for i in range(0, n, 1000)]


def stored_posts(url: str) -> int:
    answer = httpx.get(f"{url}/v1/social/summary", params={"from": "-2h"}, timeout=60).json()
    return int(answer["posts"])


def bench_http(root: Path, n: int) -> dict[str, float]:
    bodies = posts(n)
    (root / "http").mkdir()
    proc, url = start_server(root / "http" / "data", "--no-alerts")
    try:
        queue = list(bodies)
        lock = threading.Lock()

        def sender() -> None:
            with httpx.Client(timeout=120) as http:
                while True:
                    with lock:
                        if not queue:
                            return
                        body = queue.pop()
                    r = http.post(f"{url}/v1/social/posts", content=body,
                                  headers={"Content-Type": "application/x-ndjson"})  # fmt: skip
                    assert r.status_code == 202, r.text

        started = time.perf_counter()
        threads = [threading.Thread(target=sender) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        acked = time.perf_counter() - started
        wait_drained(url)
        stored = time.perf_counter() - started
        assert stored_posts(url) == n
        return {"posts": n, "acked_per_s": n / acked, "stored_per_s": n / stored}
    finally:
        proc.terminate()
        proc.wait(60)


def bench_amqp(root: Path, n: int) -> dict[str, float]:
    from llmpulse.bus import amqp

    lines = [line for body in posts(n) for line in body.split(b"\n")]
    queue = f"bench-posts-{int(time.time())}"

    async def publish() -> float:
        connection = await amqp.connect(AMQP)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await amqp.declare(channel, queue)
            started = time.perf_counter()
            for i in range(0, len(lines), 2000):
                await amqp.publish(channel, queue, lines[i : i + 2000])
            return time.perf_counter() - started

    async def delete() -> None:
        connection = await amqp.connect(AMQP)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)
            await channel.queue_delete(amqp.dead_name(queue))
            await channel.exchange_delete(amqp.dead_name(queue))

    published_s = asyncio.run(publish())
    (root / "amqp").mkdir()
    proc, url = start_server(root / "amqp" / "data", "--no-alerts")
    try:
        started = time.perf_counter()
        consume = subprocess.run(
            [sys.executable, "-m", "llmpulse", "social", "consume", "--amqp", AMQP,
             "--queue", queue, "--url", url, "--batch-size", "1000", "--exit-when-idle", "1"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        wait_drained(url)
        # The consumer waited 1 s of idleness before it left: not part of the rate.
        stored = time.perf_counter() - started - 1.0
        assert stored_posts(url) == n, consume.stdout
        return {"posts": n, "published_per_s": n / published_s, "consumed_per_s": n / stored}
    finally:
        proc.terminate()
        proc.wait(60)
        asyncio.run(delete())


def fill_posts(data_dir: Path, n: int) -> float:
    def chunk_sql(offset: int, rows: int, start_s: int, span_ms: int) -> str:
        return f"""
            INSERT INTO social_posts (project, ts, event_id, post_id, platform, author_id,
                author_handle, author_followers, text, lang, likes, reposts, replies, quotes,
                engagement, hashtags, cashtags, entities, sentiment, sentiment_label,
                text_hash, received_at)
            SELECT 'default', ts, generateUUIDv4(number), toString(number + {offset}), 'x',
                concat('a', toString(h % 200000)), concat('user', toString(h % 200000)),
                h % 100000, concat('post about $NVDA number ', toString(h % 1000000)),
                ['en','en','en','es','de'][1 + h % 5], h % 500, h % 50, h % 20, h % 7,
                (h % 500) + 2 * (h % 50) + (h % 20) + (h % 7),
                [['ai','nvda','gpu','stocks','tech','chips'][1 + h % 6]],
                if(h % 3 = 0, ['nvda'], []), if(h % 2 = 0, ['NVDA'], []),
                s, multiIf(s >= 0.05, 'positive', s <= -0.05, 'negative', 'neutral'),
                if(h % 40 = 0, 42, h), ts
            FROM (
                SELECT number, cityHash64(number + {offset}) AS h,
                    ((h % 2001) - 1000) / 1000.0 AS s,
                    fromUnixTimestamp64Milli(toInt64({start_s} * 1000 + (number + {offset}) * {span_ms} / {n}), 'UTC') AS ts
                FROM numbers({rows})
            )
        """  # fmt: skip

    return fill(data_dir, n, "social_posts", chunk_sql)


def fill_logs(data_dir: Path, n: int) -> float:
    def chunk_sql(offset: int, rows: int, start_s: int, span_ms: int) -> str:
        return f"""
            INSERT INTO app_logs (project, ts, event_id, level, severity_number, message,
                logger, service, trace_id, received_at)
            SELECT 'default', ts, generateUUIDv4(number),
                ['DEBUG','INFO','INFO','INFO','WARNING','ERROR'][1 + h % 6], 9,
                concat(['request served in ', 'cache miss for key ', 'user signed in ',
                        'retrying upstream call ', 'queue depth is '][1 + h % 5],
                       toString(h % 100000),
                       if(h % 1000 = 0, ' upstream timeout after 30s', '')),
                'app', ['api','worker','billing'][1 + h % 3],
                if(h % 10 = 0, lower(hex(h)), ''), ts
            FROM (
                SELECT number, cityHash64(number + {offset}) AS h,
                    fromUnixTimestamp64Milli(toInt64({start_s} * 1000 + (number + {offset}) * {span_ms} / {n}), 'UTC') AS ts
                FROM numbers({rows})
            )
        """  # fmt: skip

    return fill(data_dir, n, "app_logs", chunk_sql)


def fill(
    data_dir: Path, n: int, table: str, chunk_sql: Callable[[int, int, int, int], str]
) -> float:
    """Seconds to generate `n` rows of `table` over 30 days in a fresh store, in chunks:
    `chunk_sql(offset, rows, first second, span in ms)` is one chunk's INSERT."""
    engine, _, start_s, span_ms = fresh_store(data_dir, 30)
    started = time.perf_counter()
    generate(engine, n, lambda offset, rows: chunk_sql(offset, rows, start_s, span_ms))
    engine.execute(f"OPTIMIZE TABLE {table} FINAL")
    engine.close()
    return time.perf_counter() - started


def median_ms(url: str, path: str, runs: int = 5, **params: str) -> float:
    times = []
    with httpx.Client(timeout=120) as http:
        http.get(f"{url}{path}", params=params).raise_for_status()  # warm
        for _ in range(runs):
            started = time.perf_counter()
            r = http.get(f"{url}{path}", params=params)
            times.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text[:300]
    return statistics.median(times)


def bench_page(root: Path, n: int) -> dict[str, float]:
    data_dir = root / "page" / "data"
    data_dir.mkdir(parents=True)
    fill_s = fill_posts(data_dir, n)
    proc, url = start_server(data_dir, "--no-alerts")
    try:
        out = {"posts": n, "fill_s": fill_s}
        for label, span in (("30d", "-30d"), ("24h", "-24h")):
            out[f"page_{label}_ms"] = median_ms(url, "/social", range=label)
            for name in ("summary", "timeseries", "entities", "top", "posts"):
                out[f"{name}_{label}_ms"] = median_ms(url, f"/v1/social/{name}", **{"from": span})
        return out
    finally:
        proc.terminate()
        proc.wait(60)


def bench_logs(root: Path, n: int) -> dict[str, float]:
    data_dir = root / "logs" / "data"
    data_dir.mkdir(parents=True)
    fill_s = fill_logs(data_dir, n)
    proc, url = start_server(data_dir, "--no-alerts")
    try:
        month = {"from": "-30d"}
        return {
            "lines": n,
            "fill_s": fill_s,
            "search_rare_30d_ms": median_ms(url, "/v1/logs", q="timeout", **month),
            "search_common_30d_ms": median_ms(url, "/v1/logs", q="cache miss", **month),
            "search_absent_30d_ms": median_ms(url, "/v1/logs", q="no such words", **month),
            "level_error_30d_ms": median_ms(url, "/v1/logs", level="ERROR", **month),
            "newest_24h_ms": median_ms(url, "/v1/logs", **{"from": "-24h"}),
            "counts_30d_ms": median_ms(url, "/v1/logs/counts", interval="1d", **month),
            "page_30d_ms": median_ms(url, "/logs", range="30d", q="timeout"),
        }
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=200_000, help="posts sent over HTTP/AMQP")
    parser.add_argument("--stored-posts", type=int, default=5_000_000)
    parser.add_argument("--log-lines", type=int, default=10_000_000)
    parser.add_argument("--only", default="http,amqp,page,logs")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for part in args.only.split(","):
            if part == "http":
                print("http", bench_http(root, args.posts))
            elif part == "amqp":
                print("amqp", bench_amqp(root, args.posts // 2))
            elif part == "page":
                print("page", bench_page(root, args.stored_posts))
            elif part == "logs":
                print("logs", bench_logs(root, args.log_lines))


if __name__ == "__main__":
    main()

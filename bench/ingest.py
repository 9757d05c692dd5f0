"""Ingest throughput: batches of events over HTTP into one `llmpulse serve`, durable.

A separate load process (this one) keeps connections busy with pre-built batches (fresh
event ids each time) and reports events/s, request latency and the time for the store to
catch up. Two loads: a few connections of 1,000-event batches (throughput), and 1,000
keep-alive connections of 10-event batches (many small clients: what each small request
costs). Run: python bench/ingest.py [--seconds 20] [--connections 4] [--small-connections 1000] [--text]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from common import machine, percentile, rss_mib, start_server, stored_events, wait_drained
from http_load import Exchange, post
from llmpulse.sim.traffic import TrafficGenerator

BATCH = 1000
SMALL_BATCH = 10


def template(size: int = BATCH, text: bool = False) -> bytes:
    """A `size`-event body with `%s` where each event's id and ts go: every request sends
    new ids, timestamped at the time of sending, as live traffic would. With `text`, calls
    carry their prompt and completion (the text descriptors are computed at ingest)."""
    gen = TrafficGenerator(seed=1, text=text)
    now = datetime.now(UTC)
    events = [gen.event(now) for i in range(size)]
    for e in events:
        e["event_id"] = "@ID@"
        e["ts"] = "@TS@"
    body = orjson.dumps(events).replace(b"%", b"%%")
    return body.replace(b'"@ID@"', b'"%s"').replace(b'"@TS@"', b"%s")


def fill(body: bytes, size: int = BATCH) -> bytes:
    now_ms = time.time_ns() // 1_000_000
    values: list[bytes] = []
    for i in range(size):
        values.append(str(uuid.uuid4()).encode())
        values.append(str(now_ms - i).encode())  # Unix ms, a millisecond apart
    return body % tuple(values)


async def small_batches(url: str, connections: int, seconds: float) -> tuple[int, list[float]]:
    """`connections` keep-alive connections, each posting 10-event batches back to back for
    `seconds`: (events acknowledged, request latencies in seconds)."""
    parts = httpx.URL(url)
    body = template(SMALL_BATCH)
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def client(index: int) -> None:
        await asyncio.sleep(index * 0.001)  # connect over a second, not in one burst
        transport, exchange = await asyncio.get_running_loop().create_connection(
            Exchange, parts.host, parts.port or 80
        )
        while time.monotonic() < stop:
            request = post(parts.host, "/v1/events", fill(body, SMALL_BATCH))
            status, _, elapsed = await exchange.send(request)
            assert status == 202, status
            latencies.append(elapsed)
        transport.close()

    await asyncio.gather(*(client(i) for i in range(connections)))
    return len(latencies) * SMALL_BATCH, latencies


def large_batches(
    urls: list[str], connections: int, seconds: float, text: bool = False
) -> tuple[int, list[float]]:
    """`connections` threads posting 1,000-event batches back to back for `seconds`, each
    to one of `urls` in turn: (events acknowledged, request latencies in seconds)."""
    body = template(text=text)
    latencies: list[float] = []
    sent = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def load(url: str) -> None:
        with httpx.Client(timeout=60, headers={"Content-Type": "application/json"}) as http:
            while time.monotonic() < stop:
                content = fill(body)
                t0 = time.perf_counter()
                r = http.post(f"{url}/v1/events", content=content)
                elapsed = time.perf_counter() - t0
                assert r.status_code == 202, r.text[:300]
                with lock:
                    latencies.append(elapsed)
                    sent[0] += BATCH

    threads = [
        threading.Thread(target=load, args=(urls[i % len(urls)],)) for i in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sent[0], latencies


def measure(name: str, url: str, proc_pid: int, run: object) -> None:
    started = time.monotonic()
    sent, latencies = run()  # type: ignore[operator]
    elapsed = time.monotonic() - started
    drain = wait_drained(url)
    print(f"{name}:")
    print(
        f"  acknowledged (durable): {sent:,} events in {elapsed:.1f}s = {sent / elapsed:,.0f} events/s, "
        f"{len(latencies) / elapsed:,.0f} requests/s"
    )
    print(
        f"  request latency: p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )
    print(
        f"  store caught up {drain:.1f}s after the last request; server RSS {rss_mib(proc_pid):.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=4, help="of 1,000-event batches")
    parser.add_argument(
        "--small-connections",
        type=int,
        default=1000,
        help="of 10-event batches (0: skip that load)",
    )
    parser.add_argument("--ingest-workers", type=int, default=None, help="passed to llmpulse serve")
    parser.add_argument(
        "--text", action="store_true", help="1,000-event batches with prompts and completions"
    )
    args = parser.parse_args()

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        extra = (
            [] if args.ingest_workers is None else ["--ingest-workers", str(args.ingest_workers)]
        )
        proc, url = start_server(Path(tmp) / "data", *extra)
        try:
            measure(
                f"{args.connections} connections of {BATCH:,}-event batches"
                + (" with text" if args.text else ""),
                url,
                proc.pid,
                lambda: large_batches([url], args.connections, args.seconds, args.text),
            )
            if args.small_connections:
                measure(
                    f"{args.small_connections:,} keep-alive connections of {SMALL_BATCH}-event batches",
                    url,
                    proc.pid,
                    lambda: asyncio.run(small_batches(url, args.small_connections, args.seconds)),
                )
            store = httpx.get(f"{url}/health").json()["store"]
            count = stored_events(url)
            print(
                f"rows in store: {count:,}; {store['bytes_on_disk'] / store['events']:.0f} bytes "
                "per event on disk (as loaded, before background merges)"
            )
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()

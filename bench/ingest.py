"""Ingest throughput: batches of 1,000 events over HTTP into one `llmpulse serve`, durable.

A separate load process (this one) keeps a few connections busy with pre-built batches
(fresh event ids each time) and reports events/s, request latency and the time for the
store to catch up. Run: python bench/ingest.py [--seconds 20] [--connections 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from common import machine, rss_mib, start_server, stored_events, wait_drained
from llmpulse.sim.traffic import TrafficGenerator

BATCH = 1000


def template() -> bytes:
    """A 1,000-event body with `%s` where each event's id and ts go: every request sends
    new ids, timestamped at the time of sending, as live traffic would."""
    gen = TrafficGenerator(seed=1)
    now = datetime.now(UTC)
    events = [gen.event(now) for i in range(BATCH)]
    for e in events:
        e["event_id"] = "@ID@"
        e["ts"] = "@TS@"
    body = orjson.dumps(events).replace(b"%", b"%%")
    return body.replace(b'"@ID@"', b'"%s"').replace(b'"@TS@"', b"%s")


def fill(body: bytes) -> bytes:
    now_ms = time.time_ns() // 1_000_000
    values: list[bytes] = []
    for i in range(BATCH):
        values.append(str(uuid.uuid4()).encode())
        values.append(str(now_ms - i).encode())  # Unix ms, a millisecond apart
    return body % tuple(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--ingest-workers", type=int, default=None, help="passed to llmpulse serve")
    args = parser.parse_args()

    body = template()
    with tempfile.TemporaryDirectory() as tmp:
        extra = (
            [] if args.ingest_workers is None else ["--ingest-workers", str(args.ingest_workers)]
        )
        proc, url = start_server(Path(tmp) / "data", *extra)
        latencies: list[float] = []
        sent = [0]
        stop = time.monotonic() + args.seconds
        lock = threading.Lock()

        def load() -> None:
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

        started = time.monotonic()
        threads = [threading.Thread(target=load) for _ in range(args.connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        drain = wait_drained(url)
        rss = rss_mib(proc.pid)
        store = httpx.get(f"{url}/health").json()["store"]
        count = stored_events(url)
        proc.terminate()
        proc.wait()

    latencies.sort()
    print(f"machine: {machine()}")
    print(
        f"events sent (acknowledged, durable): {sent[0]:,} in {elapsed:.1f}s over {args.connections} connections"
    )
    print(f"ingest rate: {sent[0] / elapsed:,.0f} events/s")
    print(
        f"request latency (1,000 events): p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms"
    )
    print(f"store caught up {drain:.1f}s after the last request; rows in store: {count:,}")
    print(f"loaded rate (end to end): {count / (elapsed + drain):,.0f} events/s")
    print(f"server RSS: {rss:.0f} MiB")
    per_event = store["bytes_on_disk"] / store["events"]
    print(f"storage: {per_event:.0f} bytes per event on disk (as loaded, before background merges)")


if __name__ == "__main__":
    main()

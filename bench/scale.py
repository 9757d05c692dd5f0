"""Scale-out through the bus: collectors -> RabbitMQ -> loaders -> a ClickHouse server.

Starts a ClickHouse server (tests/ch_server.py, from the chdb-core wheel), COLLECTORS
`serve --role collector` and LOADERS `serve --role loader` nodes on a RabbitMQ broker (the
machine's on 5672 unless --bus), drives the collectors with 1,000-event batches from
CONNECTIONS threads for --seconds, then waits until every acknowledged event is in the
store. Prints: events/s acknowledged and end to end (first request to last row stored),
p50/p99 acknowledgement latency, collector CPU per 10k events, loader rows/s, the largest
loader lag seen, and the loss ledger (acknowledged = stored). Everything shares this
machine's cores, so the figures are a floor for a deployment of separate machines.
Run: python bench/scale.py [--seconds 30] [--connections 8] [--collectors 2] [--loaders 2]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from ingest import BATCH, large_batches

from common import cpu_seconds, free_port, machine, percentile, start_server

ROOT = Path(__file__).resolve().parent.parent


def start_clickhouse(data: Path) -> tuple[subprocess.Popen[str], str]:
    http = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "ch_server.py"), str(data), str(http),
         str(free_port())],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
    return proc, f"http://127.0.0.1:{http}"


def stored(clickhouse: str, database: str) -> int:
    sql = f"SELECT count() FROM {database}.llm_events"
    return int(httpx.post(clickhouse, content=sql, timeout=30).text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--collectors", type=int, default=2)
    parser.add_argument("--loaders", type=int, default=2)
    parser.add_argument("--bus", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ch, clickhouse = start_clickhouse(root / "clickhouse")
        database = "scale"
        httpx.post(clickhouse, content=f"CREATE DATABASE {database}").raise_for_status()
        store = f"clickhouse://{clickhouse.removeprefix('http://')}/{database}"
        common = ["--store", store, "--bus", args.bus, "--ingest-workers", "1"]
        queue = f"bench.{secrets.token_hex(3)}"
        nodes: list[tuple[subprocess.Popen[bytes], str]] = []
        try:
            for role, count in (("loader", args.loaders), ("collector", args.collectors)):
                for i in range(count):
                    data = root / f"{role}{i}" / "data"
                    data.parent.mkdir()
                    nodes.append(start_server(data, "--role", role, *common, prefix=(),
                                              env={"LLMPULSE_BUS_QUEUE": queue}))  # fmt: skip
            loaders, collectors = nodes[: args.loaders], nodes[args.loaders :]
            lags: list[float] = []
            watching = threading.Event()

            def watch() -> None:  # the loaders' lag while the load runs
                while not watching.is_set():
                    for _, url in loaders:
                        report = httpx.get(f"{url}/v1/pipeline", timeout=30).json()
                        lags.append(report["loader"]["lag_s"] or 0.0)
                    time.sleep(0.5)

            watcher = threading.Thread(target=watch)
            watcher.start()
            cpu0 = sum(cpu_seconds(p.pid) for p, _ in collectors)
            started = time.monotonic()
            sent, latencies = large_batches(
                [u for _, u in collectors], args.connections, args.seconds
            )
            acked_s = time.monotonic() - started
            cpu = sum(cpu_seconds(p.pid) for p, _ in collectors) - cpu0
            while (count := stored(clickhouse, database)) < sent:
                if time.monotonic() - started > args.seconds + 600:
                    raise TimeoutError(f"{count:,} of {sent:,} stored")
                time.sleep(0.2)
            end_to_end = time.monotonic() - started
            watching.set()
            watcher.join()
            reports: list[dict[str, Any]] = [
                httpx.get(f"{u}/v1/pipeline", timeout=30).json() for _, u in nodes
            ]
            print(f"{args.collectors} collectors, {args.loaders} loaders, RabbitMQ "
                  f"({args.bus.split('@')[-1]}), 1 ClickHouse server; {args.connections} "
                  f"connections of {BATCH:,}-event batches for {args.seconds:.0f} s")  # fmt: skip
            print(f"  acknowledged: {sent:,} events, {sent / acked_s:,.0f} events/s; ack latency "
                  f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
                  f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms")  # fmt: skip
            print(f"  end to end (first request to last row stored): {end_to_end:.1f} s = "
                  f"{sent / end_to_end:,.0f} events/s; the store caught up "
                  f"{end_to_end - acked_s:.1f} s after the last acknowledgement")  # fmt: skip
            print(f"  collector CPU: {cpu / sent * 10_000:.2f} s per 10k events")
            print(f"  loaders: {count / end_to_end:,.0f} rows/s into ClickHouse; largest lag "
                  f"seen {max(lags, default=0):.1f} s")  # fmt: skip
            acknowledged = sum(r["collector"]["accepted_items"] for r in reports)
            loaded = sum(r["loader"]["loaded_items"] for r in reports)
            print(f"  ledger: acknowledged {acknowledged:,.0f} = loaded {loaded:,.0f}; "
                  f"stored {count:,}; lost {acknowledged - count:,.0f}")  # fmt: skip
        finally:
            for proc, _ in nodes:
                proc.terminate()
                proc.wait()
            ch.kill()


if __name__ == "__main__":
    main()

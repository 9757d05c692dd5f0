"""Proxy overhead: streamed chat completions at 200 concurrent calls, straight to a fake
provider and through `llmpulse proxy` (1 and 3 workers), and the proxy's memory over
10,000 streamed calls.

Everything runs on this machine: the fake provider (bench/sse_upstream.py), a real
`llmpulse serve` storing the proxy's events (at idle CPU priority: it is not on the calls'
path), the proxy, and the load (one asyncio process). Added latency is the difference of
the same quantile with and without the proxy, for the first content chunk (TTFT) and for
the whole stream, with the callers' starts spread over one call and all in step.

    python bench/proxy.py [--calls 4000] [--concurrency 200] [--workers 1,3]
                          [--memory-calls 10000] [--chunk-delay 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import (
    cpu_seconds,
    free_port,
    machine,
    percentile,
    rss_mib,
    start_server,
    stored_events,
    wait_listening,
)
from sse_upstream import FIRST_S, WORDS

UPSTREAM = Path(__file__).resolve().parent / "sse_upstream.py"
CONTENT = re.compile(rb'"content": ?"[^"]')  # a chunk with text in it
BODY = {
    "model": "gpt-4o-mini",
    "stream": True,
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
}


class Connection(asyncio.Protocol):
    """A bare HTTP/1.1 keep-alive connection as a protocol: the load generator must cost far
    less than what it measures, on the same cores (httpx spent 7-18 ms of CPU per streamed
    call at 200 at a time; asyncio streams 0.35 ms)."""

    def __init__(self) -> None:
        self.transport: asyncio.WriteTransport | None = None
        self.done: asyncio.Future[None] | None = None
        self.received = b""
        self.first: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.done is None or self.done.done():
            return
        if not self.received and not data.startswith(b"HTTP/1.1 200 "):
            self.done.set_exception(RuntimeError(data.decode()))
            return
        if self.first is None and CONTENT.search(data):
            self.first = time.perf_counter()
        self.received = self.received[-16:] + data  # enough to see how the answer ends
        if self.received.endswith(b"\r\n0\r\n\r\n"):  # the last chunk of the stream
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed mid-answer"))

    async def stream(self, request: bytes) -> tuple[float, float]:
        """(ms to the first content chunk, ms to the end) of one streamed POST."""
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        self.received, self.first = b"", None
        started = time.perf_counter()
        self.transport.write(request)
        await self.done
        end = time.perf_counter()
        return ((self.first or end) - started) * 1000, (end - started) * 1000


async def load(
    url: str, calls: int, concurrency: int, spread_s: float = 0.0
) -> tuple[list[float], list[float]]:
    """(TTFT ms, total ms) per call, `concurrency` connections at a time. The connections
    start evenly over `spread_s` seconds; at 0 they all start together and, their calls
    lasting the same, stay in step."""
    parts = httpx.URL(url)
    body = json.dumps(BODY).encode()
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.host}\r\nAuthorization: Bearer sk-bench\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    results: list[tuple[float, float]] = []
    queue = iter(range(calls))

    async def worker(index: int) -> None:
        await asyncio.sleep(spread_s * index / concurrency)
        transport, connection = await asyncio.get_running_loop().create_connection(
            Connection, parts.host, parts.port or 80
        )
        for _ in queue:
            results.append(await connection.stream(request))
        transport.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return [r[0] for r in results], [r[1] for r in results]


def compare(
    urls: dict[str, str], processes: dict[str, int], calls: int, concurrency: int, spread_s: float
) -> None:
    """Runs the load straight and through the proxy; prints latencies, the added latency and
    each process's CPU per call."""
    rows = []
    for name, url in urls.items():
        cpu_before = {p: cpu_seconds(pid) for p, pid in processes.items()}
        load_before = time.process_time()
        ttft, total = asyncio.run(load(url, calls, concurrency, spread_s))
        cpu = {p: cpu_seconds(pid) - cpu_before[p] for p, pid in processes.items()}
        cpu["load"] = time.process_time() - load_before
        rows.append((p50_p99(ttft), p50_p99(total)))
        (t50, t99), (a50, a99) = rows[-1]
        print(f"  {name:7} TTFT p50 {t50:6.1f} ms  p99 {t99:6.1f} ms   "
              f"total p50 {a50:6.1f} ms  p99 {a99:6.1f} ms")  # fmt: skip
        print("          CPU ms per call: " + ", ".join(
            f"{p} {seconds * 1000 / calls:.2f}" for p, seconds in cpu.items()))  # fmt: skip
    ((dt50, dt99), (da50, da99)), ((pt50, pt99), (pa50, pa99)) = rows
    print(f"  added: TTFT p50 {pt50 - dt50:+.1f} ms, p99 {pt99 - dt99:+.1f} ms; "
          f"total p50 {pa50 - da50:+.1f} ms, p99 {pa99 - da99:+.1f} ms")  # fmt: skip


def p50_p99(values: list[float]) -> tuple[float, float]:
    return percentile(values, 0.5), percentile(values, 0.99)


def start_proxy(
    upstream_url: str, collector_url: str, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "llmpulse", "proxy", "--upstream", upstream_url, "--port", str(port),
         "--collector", collector_url, "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    wait_listening(port, timeout=60)
    return proxy, f"http://127.0.0.1:{port}/v1/chat/completions"


def measure_memory(
    proxy: subprocess.Popen[bytes], url: str, calls: int, concurrency: int, spread_s: float
) -> int:
    """Prints the proxy's RSS (all workers) every fifth of `calls` streamed calls; the calls
    made."""
    print(f" proxy RSS (all workers) over {calls} more streamed calls:")
    step = max(1, calls // 5)
    print(f"  start: {rss_mib(proxy.pid):.1f} MiB")
    for done in range(step, calls + 1, step):
        asyncio.run(load(url, step, concurrency, spread_s))
        print(f"  after {done:>6}: {rss_mib(proxy.pid):.1f} MiB")
    return step * (calls // step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--memory-calls", type=int, default=10_000)
    parser.add_argument("--chunk-delay", type=float, default=0.02,
                        help="seconds between the fake's chunks (0.02: 50 chunks/s a stream)")  # fmt: skip
    parser.add_argument("--workers", default="1,3", help="proxy worker processes to measure")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    fake_port = free_port()
    fake = subprocess.Popen([sys.executable, str(UPSTREAM), str(fake_port), str(args.chunk_delay)])
    call_s = FIRST_S + len(WORDS) * args.chunk_delay
    with tempfile.TemporaryDirectory() as tmp:
        # The collector stores every event for real, at idle CPU priority: it is not on the
        # calls' path and in production runs on its own machine, not on these 2 cores.
        collector, collector_url = start_server(Path(tmp) / "data", prefix=("chrt", "--idle", "0"))
        upstream_url = f"http://127.0.0.1:{fake_port}"
        direct_url = f"{upstream_url}/v1/chat/completions"
        sent = 0
        try:
            wait_listening(fake_port)
            asyncio.run(load(direct_url, 400, args.concurrency))  # warm up
            print(f"{args.calls} streamed chat completions, {args.concurrency} at a time (11 "
                  f"chunks: two after {FIRST_S * 1000:.0f} ms, then one every "
                  f"{args.chunk_delay * 1000:.0f} ms):")  # fmt: skip
            worker_counts = [int(n) for n in args.workers.split(",")]
            for workers in worker_counts:
                proxy, proxy_url = start_proxy(upstream_url, collector_url, workers)
                try:
                    asyncio.run(load(proxy_url, 400, args.concurrency))  # warm up
                    processes = {"fake": fake.pid, "proxy": proxy.pid, "collector": collector.pid}
                    urls = {"direct": direct_url, "proxy": proxy_url}
                    print(f" proxy with {workers} worker(s); starts spread over one call "
                          f"({call_s * 1000:.0f} ms), as independent callers do:")  # fmt: skip
                    compare(urls, processes, args.calls, args.concurrency, call_s)
                    print(f" proxy with {workers} worker(s); all starting together, in step "
                          "(every stream's chunk arrives at once):")  # fmt: skip
                    compare(urls, processes, args.calls, args.concurrency, 0.0)
                    sent += 400 + 2 * args.calls
                    if workers == worker_counts[-1] and args.memory_calls:
                        sent += measure_memory(
                            proxy, proxy_url, args.memory_calls, args.concurrency, call_s
                        )
                finally:
                    proxy.terminate()
                    proxy.wait(30)
            print(f"events stored by the collector: {stored_events(collector_url)} "
                  f"of {sent} calls through the proxy")  # fmt: skip
        finally:
            fake.terminate()
            collector.terminate()
            collector.wait(60)


if __name__ == "__main__":
    main()

"""Proxy overhead: streamed chat completions at 200 concurrent calls, straight to the fake
provider and through `llmpulse proxy`, and the proxy's memory over 10,000 streamed calls.

Everything runs on this machine: the fake provider (its own process), a real
`llmpulse serve` receiving the proxy's events, the proxy, and the load (one asyncio
process). Added latency is the difference of the same quantile with and without the proxy,
for the first content chunk (TTFT) and for the whole stream.

    python bench/proxy.py [--calls 4000] [--concurrency 200] [--memory-calls 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import free_port, machine, rss_mib, start_server, wait_listening

TESTS = Path(__file__).resolve().parent.parent / "tests"
BODY = {
    "model": "gpt-4o-mini",
    "stream": True,
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
}


class Connection:
    """A bare HTTP/1.1 keep-alive connection: the load generator must cost far less than
    what it measures (httpx spent 7-18 ms of CPU per streamed call at 200 at a time)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def stream(self, path: str, body: bytes) -> tuple[float, float]:
        """(ms to the first content chunk, ms to the end) of one streamed POST."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        started = time.perf_counter()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer sk-bench\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            raise RuntimeError((head + await self.reader.readexactly(length)).decode())
        first = None
        while True:  # chunked transfer encoding
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            data = await self.reader.readexactly(size + 2)
            if size == 0:
                break
            if first is None and any(
                b'"content": "' in event and b'"content": ""' not in event
                for event in data.split(b"\n\n")
            ):
                first = time.perf_counter()
        end = time.perf_counter()
        return ((first or end) - started) * 1000, (end - started) * 1000


async def load(url: str, calls: int, concurrency: int) -> tuple[list[float], list[float]]:
    """(TTFT ms, total ms) per call, `concurrency` connections at a time."""
    parts = httpx.URL(url)
    body = json.dumps(BODY).encode()
    results: list[tuple[float, float]] = []
    queue = iter(range(calls))

    async def worker() -> None:
        connection = Connection(parts.host, parts.port or 80)
        for _ in queue:
            results.append(await connection.stream(parts.path, body))
        if connection.writer is not None:
            connection.writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [r[0] for r in results], [r[1] for r in results]


def q(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--memory-calls", type=int, default=10_000)
    parser.add_argument("--chunk-delay", type=float, default=0.02,
                        help="seconds between the fake's chunks (0.02: 50 chunks/s a stream)")  # fmt: skip
    args = parser.parse_args()
    print(f"machine: {machine()}")
    fake_port, proxy_port = free_port(), free_port()
    fake = subprocess.Popen(
        [sys.executable, str(TESTS / "fake_llm.py"), str(fake_port), str(args.chunk_delay)]
    )
    with tempfile.TemporaryDirectory() as tmp:
        collector, collector_url = start_server(Path(tmp) / "data")
        proxy = subprocess.Popen(
            [sys.executable, "-m", "llmpulse", "proxy", "--upstream", f"http://127.0.0.1:{fake_port}",
             "--port", str(proxy_port), "--collector", collector_url],
            stdout=subprocess.DEVNULL, env=dict(os.environ),
        )  # fmt: skip
        try:
            wait_listening(fake_port)
            wait_listening(proxy_port)
            direct_url = f"http://127.0.0.1:{fake_port}/v1/chat/completions"
            proxy_url = f"http://127.0.0.1:{proxy_port}/v1/chat/completions"
            asyncio.run(load(proxy_url, 400, args.concurrency))  # warm up
            asyncio.run(load(direct_url, 400, args.concurrency))
            print(f"{args.calls} streamed calls (12 chunks: the first after 50 ms, then every "
                  f"{args.chunk_delay * 1000:.0f} ms), {args.concurrency} at a time:")  # fmt: skip
            rows = []
            for name, url in (("direct", direct_url), ("proxy", proxy_url)):
                ttft, total = asyncio.run(load(url, args.calls, args.concurrency))
                rows.append((name, ttft, total))
                print(f"  {name:7} TTFT p50 {q(ttft, .5):6.1f} ms  p99 {q(ttft, .99):6.1f} ms   "
                      f"total p50 {q(total, .5):6.1f} ms  p99 {q(total, .99):6.1f} ms")  # fmt: skip
            (_, dt, dtot), (_, pt, ptot) = rows
            print(f"  added: TTFT p50 {q(pt, .5) - q(dt, .5):+.1f} ms, p99 {q(pt, .99) - q(dt, .99):+.1f} ms; "
                  f"total p50 {q(ptot, .5) - q(dtot, .5):+.1f} ms, p99 {q(ptot, .99) - q(dtot, .99):+.1f} ms")  # fmt: skip
            print(f"proxy RSS over {args.memory_calls} more streamed calls:")
            step = args.memory_calls // 5
            print(f"  start: {rss_mib(proxy.pid):.1f} MiB")
            for done in range(step, args.memory_calls + 1, step):
                asyncio.run(load(proxy_url, step, args.concurrency))
                print(f"  after {done:>6}: {rss_mib(proxy.pid):.1f} MiB")
            time.sleep(3)
            health = httpx.get(f"{collector_url}/health").json()
            print(f"  collector: {health['spool']}")
        finally:
            proxy.terminate()
            fake.terminate()
            collector.terminate()
            collector.wait(60)


if __name__ == "__main__":
    main()

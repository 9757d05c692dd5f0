"""Proxy overhead: chat completions, streamed and whole, 200 concurrent calls, straight to a
fake provider, through `llmpulse proxy` and through LiteLLM's proxy (each with the same
number of worker processes, against the same fake and load), and the proxy's memory over
10,000 streamed calls.

Everything runs on this machine: the fake provider (bench/sse_upstream.py), a real
`llmpulse serve` storing the proxy's events (at idle CPU priority: it is not on the calls'
path), the proxies, and the load (one asyncio process). Added latency is the difference of
the same quantile with and without the proxy, for the first content chunk (TTFT, streams)
and for the whole call, with the callers' starts spread over one call and all in step.
LiteLLM (`pip install -e '.[bench]'`: litellm[proxy], no database) is measured when its
`litellm` command is found beside this Python or given with --litellm.

    python bench/proxy.py [--calls 4000] [--concurrency 200] [--workers 1,3]
                          [--memory-calls 10000] [--chunk-delay 0.02] [--litellm PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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
from http_load import Exchange, post
from sse_upstream import FIRST_S, WORDS

UPSTREAM = Path(__file__).resolve().parent / "sse_upstream.py"
BODY = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
}
# The key of each call: the fake ignores it, LLMPulse passes it upstream, LiteLLM checks it
# (its master key).
KEY = "sk-bench-0123456789abcdef0123456789abcdef"


async def load(
    url: str, calls: int, concurrency: int, spread_s: float = 0.0, stream: bool = True
) -> tuple[list[float], list[float]]:
    """(TTFT ms, total ms) per call, `concurrency` connections at a time. The connections
    start evenly over `spread_s` seconds; at 0 they all start together and, their calls
    lasting the same, stay in step."""
    parts = httpx.URL(url)
    body = json.dumps({**BODY, "stream": stream}).encode()
    request = post(parts.host, parts.path, body, key=KEY)
    results: list[tuple[float, float]] = []
    queue = iter(range(calls))

    async def worker(index: int) -> None:
        await asyncio.sleep(spread_s * index / concurrency)
        transport, exchange = await asyncio.get_running_loop().create_connection(
            Exchange, parts.host, parts.port or 80
        )
        for _ in queue:
            _, first, end = await exchange.send(request)
            results.append((first * 1000, end * 1000))
        transport.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return [r[0] for r in results], [r[1] for r in results]


def compare(
    urls: dict[str, str],
    processes: dict[str, int],
    calls: int,
    concurrency: int,
    spread_s: float,
    stream: bool,
) -> None:
    """Runs the load straight and through each proxy; prints latencies, each proxy's added
    latency, LiteLLM's added latency as a multiple of LLMPulse's, and CPU per call."""
    quantiles: dict[str, tuple[float, float, float, float]] = {}
    for name, url in urls.items():
        cpu_before = {p: cpu_seconds(pid) for p, pid in processes.items()}
        load_before = time.process_time()
        ttft, total = asyncio.run(load(url, calls, concurrency, spread_s, stream))
        cpu = {p: cpu_seconds(pid) - cpu_before[p] for p, pid in processes.items()}
        cpu["load"] = time.process_time() - load_before
        quantiles[name] = (*p50_p99(ttft), *p50_p99(total))
        t50, t99, a50, a99 = quantiles[name]
        first = f"TTFT p50 {t50:6.1f} ms  p99 {t99:6.1f} ms   " if stream else ""
        print(f"  {name:8} {first}total p50 {a50:6.1f} ms  p99 {a99:6.1f} ms")
        print("           CPU ms per call: " + ", ".join(
            f"{p} {seconds * 1000 / calls:.2f}" for p, seconds in cpu.items()))  # fmt: skip
    direct = quantiles["direct"]
    added = {
        name: tuple(q - d for q, d in zip(values, direct, strict=True))
        for name, values in quantiles.items()
        if name != "direct"
    }
    for name, (t50, t99, a50, a99) in added.items():
        first = f"TTFT p50 {t50:+.1f} ms, p99 {t99:+.1f} ms; " if stream else ""
        print(f"  added by {name}: {first}total p50 {a50:+.1f} ms, p99 {a99:+.1f} ms")
    if "litellm" in added and "llmpulse" in added:
        ours, theirs = added["llmpulse"], added["litellm"]
        print(f"  LiteLLM adds {ratio(theirs[2], ours[2])} LLMPulse's p50 and "
              f"{ratio(theirs[3], ours[3])} its p99")  # fmt: skip


def ratio(theirs: float, ours: float) -> str:
    """`theirs` as a multiple of `ours`, each floored at 0.1 ms (below that is noise)."""
    return f"{max(theirs, 0.1) / max(ours, 0.1):.0f}x"


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


def start_litellm(
    command: str, upstream_url: str, workers: int, folder: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """LiteLLM's proxy with its defaults and no database: the fake as `gpt-4o-mini`, the
    load's key as its master key."""
    config = folder / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n"
        f"      model: openai/gpt-4o-mini\n      api_base: {upstream_url}/v1\n"
        "      api_key: sk-upstream\n"
    )
    port = free_port()
    env = {**os.environ, "LITELLM_MASTER_KEY": KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    with open(folder / "litellm.log", "ab") as log:
        proxy = subprocess.Popen(
            [command, "--config", str(config), "--port", str(port), "--num_workers", str(workers)],
            stdout=subprocess.DEVNULL, stderr=log, env=env,
        )  # fmt: skip
    wait_listening(port, timeout=180)
    return proxy, f"http://127.0.0.1:{port}/v1/chat/completions"


def litellm_command(given: str | None) -> str | None:
    """The `litellm` command: --litellm, or the one installed beside this Python."""
    if given:
        return given
    beside = Path(sys.executable).parent / "litellm"
    return str(beside) if beside.exists() else shutil.which("litellm")


def measure_memory(
    proxy: subprocess.Popen[bytes], url: str, calls: int, concurrency: int, spread_s: float
) -> int:
    """Prints the proxy's RSS (all workers) every fifth of `calls` streamed calls; the calls
    made."""
    print(f" llmpulse proxy RSS (all workers) over {calls} more streamed calls:")
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
    parser.add_argument("--litellm", help="LiteLLM's `litellm` command (default: found)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    litellm = litellm_command(args.litellm)
    if litellm is None:
        print("LiteLLM not installed (pip install -e '.[bench]'): measuring LLMPulse alone")
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
            print(f"{args.calls} chat completions a run, {args.concurrency} at a time; streams of "
                  f"11 chunks (two after {FIRST_S * 1000:.0f} ms, then one every "
                  f"{args.chunk_delay * 1000:.0f} ms), whole answers when a stream would end "
                  f"({call_s * 1000:.0f} ms)")  # fmt: skip
            worker_counts = [int(n) for n in args.workers.split(",")]
            for workers in worker_counts:
                proxies = {"llmpulse": start_proxy(upstream_url, collector_url, workers)}
                if litellm:
                    proxies["litellm"] = start_litellm(litellm, upstream_url, workers, Path(tmp))
                try:
                    urls = {"direct": direct_url, **{n: url for n, (_, url) in proxies.items()}}
                    for url in urls.values():  # warm up
                        asyncio.run(load(url, 400, args.concurrency))
                    sent += 400
                    processes = {"fake": fake.pid, "collector": collector.pid,
                                 **{n: proc.pid for n, (proc, _) in proxies.items()}}  # fmt: skip
                    for stream in (True, False):
                        kind = "streamed" if stream else "whole"
                        for spread, how in ((call_s, "starts spread over one call, as "
                                             "independent callers do"),
                                            (0.0, "all starting together, in step")):  # fmt: skip
                            print(f" {kind}, {workers} worker(s) each, {how}:")
                            compare(urls, processes, args.calls, args.concurrency, spread, stream)
                            sent += args.calls
                    if workers == worker_counts[-1] and args.memory_calls:
                        proxy, url = proxies["llmpulse"]
                        sent += measure_memory(
                            proxy, url, args.memory_calls, args.concurrency, call_s
                        )
                finally:
                    for proc, _ in proxies.values():
                        proc.terminate()
                        proc.wait(60)
            print(f"events stored by the collector: {stored_events(collector_url)} "
                  f"of {sent} calls through the llmpulse proxy")  # fmt: skip
        finally:
            fake.terminate()
            collector.terminate()
            collector.wait(60)


if __name__ == "__main__":
    main()

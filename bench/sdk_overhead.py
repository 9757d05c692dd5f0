"""SDK overhead: time the instrumentation adds to a non-streaming `openai` chat call against
the local fake provider, and the SDK's memory while the collector is unreachable.

Added time is measured inside the call: the original `create` is wrapped in a timing shim
before the SDK instruments it, so (time of the instrumented call) - (time inside the
original) is exactly what the SDK added, free of the HTTP round trip's noise.

    python bench/sdk_overhead.py [--calls 5000] [--offline-calls 20000]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai
from openai.resources.chat.completions.completions import Completions

import llmpulse
from common import (
    free_port,
    machine,
    percentile,
    rss_mib,
    start_server,
    wait_drained,
    wait_listening,
)

TESTS = Path(__file__).resolve().parent.parent / "tests"
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
    {"role": "user", "content": "What is the capital of France? Reply with one word, please."},
]


def measure_added(api: openai.OpenAI, calls: int) -> list[float]:
    """Microseconds the SDK added to each call."""
    inner: list[float] = []
    original = Completions.__dict__["create"]

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            inner.append(time.perf_counter() - started)

    Completions.create = timed  # type: ignore[method-assign]
    llmpulse.instrument_openai()  # wraps the shim
    added = []
    try:
        for _ in range(calls):
            started = time.perf_counter()
            api.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.3)
            added.append((time.perf_counter() - started - inner[-1]) * 1e6)
    finally:
        llmpulse.uninstrument()
        Completions.create = original  # type: ignore[method-assign]
    return added


def measure_end_to_end(api: openai.OpenAI, calls: int) -> tuple[float, float]:
    """Median whole-call time (ms), plain and instrumented, interleaved in blocks."""
    plain: list[float] = []
    instrumented: list[float] = []
    for block in range(20):
        on = block % 2 == 1
        if on:
            llmpulse.instrument_openai()
        for _ in range(calls // 20):
            started = time.perf_counter()
            api.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            (instrumented if on else plain).append((time.perf_counter() - started) * 1000)
        llmpulse.uninstrument()
    return statistics.median(plain), statistics.median(instrumented)


def measure_offline_memory(api: openai.OpenAI, calls: int) -> list[tuple[int, float, int]]:
    """(calls made, RSS MiB, events held) while the collector is unreachable."""
    import os

    llmpulse.init(endpoint=f"http://127.0.0.1:{free_port()}", api_key="none")
    llmpulse.instrument_openai()
    samples = []
    try:
        for n in range(1, calls + 1):
            api.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            if n % (calls // 8) == 0:
                gc.collect()
                stats = llmpulse.stats()
                samples.append((n, rss_mib(os.getpid()), stats["pending"]))
    finally:
        llmpulse.uninstrument()
        print(f"  dropped (oldest first): {llmpulse.stats()['dropped']}")
        llmpulse.shutdown(timeout=0.1)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--offline-calls", type=int, default=20000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    # The fake provider runs in its own process: in this one its thread would compete with
    # the SDK for the GIL and inflate the figures.
    port = free_port()
    fake = subprocess.Popen([sys.executable, str(TESTS / "fake_llm.py"), str(port)])
    wait_listening(port)
    api = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-bench", max_retries=0)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        proc, url = start_server(data)
        try:
            llmpulse.init(endpoint=url)
            for _ in range(200):  # warm up connections and code paths
                api.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            added = measure_added(api, args.calls)
            print(
                f"added per call over {len(added)} calls (collector up, content captured, redaction on):"
            )
            print(f"  median {statistics.median(added):.1f} µs   p99 {percentile(added, 0.99):.1f} µs   "
                  f"max {max(added):.0f} µs")  # fmt: skip
            plain, instrumented = measure_end_to_end(api, args.calls)
            print(f"whole call, median: plain {plain:.3f} ms, instrumented {instrumented:.3f} ms")
            assert llmpulse.flush(60)
            wait_drained(url)
            print(f"  events delivered: {llmpulse.stats()['sent']}")
            llmpulse.shutdown()
        finally:
            proc.terminate()
            proc.wait(60)
    print(f"collector unreachable, {args.offline_calls} calls, queue bound 10,000:")
    for n, rss, held in measure_offline_memory(api, args.offline_calls):
        print(f"  after {n:>6} calls: RSS {rss:6.1f} MiB, events held {held}")
    fake.terminate()


if __name__ == "__main__":
    main()

"""OTLP ingest: spans per second into `llmpulse serve`, and into Arize Phoenix on the same
load in the same run.

The load is what an instrumented agent exports: per trace an agent (chain) span, a tool
span and an LLM span with OpenInference attributes (model, tokens, messages, ~300-char
prompt and answer), 512 spans per OTLP/protobuf request (the OpenTelemetry SDK's batch
size), sent by concurrent exporters. Bodies are encoded before the clock starts.

Two figures per system: acknowledged (every request answered 2xx) and stored (queryable:
LLMPulse's spool drained; Phoenix's project span count reached the total).

    python bench/otlp.py [--spans 100000] [--phoenix PATH/TO/phoenix] [--phoenix-spans 5120]

Phoenix (default settings: SQLite, its bulk inserter writing at most 100 spans per
transaction, 503 when its queue is full) stores a few hundred spans a second here, so it
gets the first --phoenix-spans of the same load; rates are comparable, totals are not.

Phoenix is measured when its `phoenix` command is found (`--phoenix`, or on PATH); install
it apart from this project, e.g. `python -m venv /tmp/phx && /tmp/phx/bin/pip install
arize-phoenix`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from common import free_port, machine, rss_mib, start_server, wait_drained

SPANS_PER_REQUEST = 512
SENDERS = 4
WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "you",
    "that",
    "it",
    "he",
    "was",
    "for",
    "on",
    "are",
    "as",
    "with",
    "his",
    "they",
    "at",
    "be",
    "this",
]


def kv(key: str, value: str | int | float) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(double_value=value))


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def trace_spans(rng: random.Random, now_ns: int) -> list[Span]:
    trace_id = rng.randbytes(16)
    agent_id, tool_id, llm_id = rng.randbytes(8), rng.randbytes(8), rng.randbytes(8)
    start = now_ns - rng.randrange(1, 3_000_000_000)
    question, answer = text(rng, 60), text(rng, 60)
    tokens_in, tokens_out = rng.randrange(50, 2000), rng.randrange(10, 800)
    model = rng.choice(["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-6"])
    llm = Span(
        trace_id=trace_id, span_id=llm_id, parent_span_id=agent_id, name="ChatCompletion",
        kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=start + 40_000_000,
        end_time_unix_nano=start + 40_000_000 + rng.randrange(200_000_000, 2_000_000_000),
        status=Status(code=Status.STATUS_CODE_OK),
        attributes=[
            kv("openinference.span.kind", "LLM"), kv("llm.model_name", model),
            kv("llm.provider", "openai"), kv("llm.system", "openai"),
            kv("llm.invocation_parameters", json.dumps({"model": model, "temperature": 0.2})),
            kv("llm.input_messages.0.message.role", "system"),
            kv("llm.input_messages.0.message.content", "You are a helpful assistant."),
            kv("llm.input_messages.1.message.role", "user"),
            kv("llm.input_messages.1.message.content", question),
            kv("llm.output_messages.0.message.role", "assistant"),
            kv("llm.output_messages.0.message.content", answer),
            kv("input.value", json.dumps({"messages": [question]})), kv("input.mime_type", "application/json"),
            kv("output.value", answer), kv("llm.token_count.prompt", tokens_in),
            kv("llm.token_count.completion", tokens_out), kv("llm.token_count.total", tokens_in + tokens_out),
            kv("session.id", f"s{rng.randrange(5000)}"), kv("user.id", f"u{rng.randrange(500)}"),
        ],
    )  # fmt: skip
    tool = Span(
        trace_id=trace_id, span_id=tool_id, parent_span_id=agent_id, name="search",
        start_time_unix_nano=start + 5_000_000, end_time_unix_nano=start + 35_000_000,
        attributes=[kv("openinference.span.kind", "TOOL"), kv("tool.name", "search"),
                    kv("input.value", text(rng, 8)), kv("output.value", text(rng, 30))],
    )  # fmt: skip
    agent = Span(
        trace_id=trace_id, span_id=agent_id, name="agent", start_time_unix_nano=start,
        end_time_unix_nano=llm.end_time_unix_nano + 1_000_000,
        attributes=[kv("openinference.span.kind", "AGENT"), kv("input.value", question), kv("output.value", answer)],
    )  # fmt: skip
    return [agent, tool, llm]


def bodies(total: int, seed: int = 3) -> list[bytes]:
    rng = random.Random(seed)
    now = time.time_ns()
    resource = Resource(attributes=[kv("service.name", "bench-agent")])
    spans: list[Span] = []
    while len(spans) < total:
        spans += trace_spans(rng, now)
    out = []
    for i in range(0, total, SPANS_PER_REQUEST):
        request = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    resource=resource,
                    scope_spans=[ScopeSpans(spans=spans[i : i + SPANS_PER_REQUEST])],
                )
            ]
        )
        out.append(request.SerializeToString())
    return out


def send_all(url: str, payloads: list[bytes], headers: dict[str, str]) -> float:
    """Seconds until every request was acknowledged; a 5xx or 429 is retried. One client
    (connection) per sender: creating clients would cost the sender more than the server."""
    local = threading.local()

    def send(body: bytes) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=120)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            response = local.client.post(url, content=body, headers=headers)
            if response.status_code < 300:
                return
            if response.status_code not in (429, 502, 503, 504):
                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
            local.refusals = getattr(local, "refusals", 0) + 1
            time.sleep(float(response.headers.get("retry-after") or 0.2))  # back-pressure
        raise RuntimeError(f"gave up after {local.refusals} refusals ({response.status_code})")

    started = time.perf_counter()
    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(send, payloads))
    return time.perf_counter() - started


def wait_for(count: Callable[[], int], total: int, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while count() < total:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {count()} of {total} spans stored")
        time.sleep(0.25)


def bench_llmpulse(payloads: list[bytes], total: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "data")
        try:
            headers = {"Content-Type": "application/x-protobuf"}
            started = time.perf_counter()
            acked = send_all(f"{url}/v1/traces", payloads, headers)
            wait_drained(url)
            stored = time.perf_counter() - started
            return total / acked, total / stored, rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(60)


def phoenix_span_count(url: str) -> int:
    query = {"query": "{ projects { edges { node { name recordCount } } } }"}
    answer = httpx.post(f"{url}/graphql", json=query, timeout=60).json()
    return sum(e["node"]["recordCount"] for e in answer["data"]["projects"]["edges"])


def bench_phoenix(phoenix: str, payloads: list[bytes], total: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = dict(os.environ, PHOENIX_WORKING_DIR=tmp, PHOENIX_PORT=str(port),
                   PHOENIX_GRPC_PORT=str(free_port()), PHOENIX_TELEMETRY_ENABLED="false")  # fmt: skip
        with open(Path(tmp) / "phoenix.log", "wb") as log:
            proc = subprocess.Popen(
                [phoenix, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(url, timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            headers = {"Content-Type": "application/x-protobuf"}
            started = time.perf_counter()
            acked = send_all(f"{url}/v1/traces", payloads, headers)
            wait_for(lambda: phoenix_span_count(url), total)
            stored = time.perf_counter() - started
            return total / acked, total / stored, rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--phoenix", default=shutil.which("phoenix"), help="the `phoenix` command")
    parser.add_argument("--phoenix-spans", type=int, default=5120, help="spans sent to Phoenix")
    args = parser.parse_args()
    total = args.spans - args.spans % SPANS_PER_REQUEST
    print(f"machine: {machine()}")
    print(
        f"load: {total} spans (1/3 LLM calls), {SPANS_PER_REQUEST} per OTLP/protobuf request, {SENDERS} senders"
    )
    payloads = bodies(total)
    print(f"  {sum(map(len, payloads)) / total:.0f} bytes per span on the wire")
    acked, stored, rss = bench_llmpulse(payloads, total)
    print(
        f"llmpulse: acknowledged {acked:,.0f} spans/s, stored {stored:,.0f} spans/s, server RSS {rss:.0f} MiB"
    )
    if args.phoenix:
        subset = payloads[: max(1, args.phoenix_spans // SPANS_PER_REQUEST)]
        p_total = len(subset) * SPANS_PER_REQUEST
        p_acked, p_stored, p_rss = bench_phoenix(args.phoenix, subset, p_total)
        print(
            f"phoenix ({p_total} spans):  acknowledged {p_acked:,.0f} spans/s, stored {p_stored:,.0f} spans/s, server RSS {p_rss:.0f} MiB"
        )
        print(
            f"ratio (llmpulse / phoenix): acknowledged {acked / p_acked:.1f}x, stored {stored / p_stored:.1f}x"
        )
    else:
        print("phoenix: not found (pass --phoenix PATH to compare)")


if __name__ == "__main__":
    main()

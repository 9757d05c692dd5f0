"""OTLP/HTTP ingest: real OpenTelemetry exporters and instrumentations (OpenInference and
OpenLLMetry) around the real `openai` client, and bad payloads."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import Server
from fake_llm import FIRST_CHUNK_DELAY_S, WORDS, FakeLLM
from sdk_helpers import get_trace, stored_events

MESSAGES = [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": "Six times seven?"},
]


def provider(
    server: Server, key: str, compression: Compression = Compression.NoCompression
) -> TracerProvider:
    tracer_provider = TracerProvider(
        resource=Resource.create(
            {"service.name": "checkout", "deployment.environment.name": "staging"}
        )
    )
    exporter = OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces",
        headers={"Authorization": f"Bearer {key}"},
        compression=compression,
    )
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider


def openai_client(fake: FakeLLM) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{fake.url}/v1", api_key="sk-test", max_retries=0)


@pytest.fixture
def openinference(server: Server, project_key: str) -> Iterator[TracerProvider]:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    tracer_provider = provider(server, project_key, Compression.Gzip)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    yield tracer_provider
    instrumentor.uninstrument()
    tracer_provider.shutdown()


@pytest.fixture
def openllmetry(server: Server, project_key: str) -> Iterator[TracerProvider]:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    tracer_provider = provider(server, project_key)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    yield tracer_provider
    instrumentor.uninstrument()
    tracer_provider.shutdown()


def check_chat(event: dict[str, Any], answer: Any, stream: bool) -> None:
    assert event["model_id"] == "gpt-4o-mini"
    assert event["provider"] == "openai"
    assert event["operation"] == "chat"
    assert event["status"] == "ok"
    assert event["tokens_in"] == answer.tokens_in
    assert event["tokens_out"] == answer.tokens_out == len(WORDS)
    assert event["completion"] == answer.text
    assert "Six times seven?" in event["prompt"]
    assert event["client_app"] == "checkout"
    assert event["environment"] == "staging"
    assert len(event["trace_id"]) == 32 and len(event["span_id"]) == 16
    assert event["cost_source"] == "catalogue" and event["cost_usd"] > 0
    if stream:
        assert FIRST_CHUNK_DELAY_S * 1000 <= event["ttft_ms"] <= event["latency_ms"]


def test_openinference_spans(
    server: Server, project_key: str, fake: FakeLLM, openinference: TracerProvider
) -> None:
    tracer = openinference.get_tracer("app")
    with tracer.start_as_current_span("handle-request") as root:
        root.set_attribute("openinference.span.kind", "CHAIN")
        root.set_attribute("session.id", "sess-9")
        openai_client(fake).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.3
        )
        plain = fake.calls[-1]
        list(openai_client(fake).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        ))  # fmt: skip
        streamed = fake.calls[-1]
    with pytest.raises(openai.RateLimitError):
        openai_client(fake).chat.completions.create(model="fake-429", messages=MESSAGES)

    events = stored_events(server, project_key, 3)
    ok = [e for e in events if e["status"] == "ok"]
    check_chat(ok[0], plain, stream=False)
    check_chat(ok[1], streamed, stream=True)
    assert ok[0]["temperature"] == pytest.approx(0.3)
    [failed] = [e for e in events if e["status"] == "error"]
    assert failed["error_type"] == "rate_limit"
    assert failed["model_id"] == "fake-429"

    # The chain span is kept, and the LLM calls are its children.
    trace = get_trace(server, project_key, ok[0]["trace_id"])
    chain = next(s for s in trace["spans"] if s["type"] == "span")
    assert (chain["name"], chain["kind"], chain["session_id"]) == (
        "handle-request",
        "chain",
        "sess-9",
    )
    assert all(e["parent_span_id"] == chain["span_id"] for e in ok)
    assert trace["llm_calls"] == 2


def test_openllmetry_spans(
    server: Server, project_key: str, fake: FakeLLM, openllmetry: TracerProvider
) -> None:
    openai_client(fake).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, max_tokens=40
    )
    plain = fake.calls[-1]
    list(openai_client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                     stream_options={"include_usage": True}))  # fmt: skip
    streamed = fake.calls[-1]
    with pytest.raises(openai.InternalServerError):
        openai_client(fake).chat.completions.create(model="fake-500", messages=MESSAGES)

    events = stored_events(server, project_key, 3)
    ok = [e for e in events if e["status"] == "ok"]
    check_chat(ok[0], plain, stream=False)
    check_chat(ok[1], streamed, stream=True)
    assert ok[0]["max_tokens"] == 40
    assert ok[0]["finish_reason"] == "stop"
    [failed] = [e for e in events if e["status"] == "error"]
    assert failed["error_type"] == "server_error"


def otlp_json(spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": spans}]}]}


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, list):
        return {
            "key": key,
            "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}},
        }
    return {"key": key, "value": {"stringValue": value}}


def genai_span(trace_id: str, span_id: str, start_ns: int, **attributes: Any) -> dict[str, Any]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "chat",
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 1_500_000_000),
        "attributes": [attr(k.replace("__", "."), v) for k, v in attributes.items()],
    }


def test_genai_conventions_current_and_deprecated(server: Server, project_key: str) -> None:
    now = time.time_ns() - 10_000_000_000
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    current = genai_span(trace, "00f067aa0ba902b7", now, **{
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-6", "gen_ai.response.model": "claude-sonnet-4-6-20260101",
        "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.cache_read.input_tokens": 100, "gen_ai.usage.reasoning.output_tokens": 12,
        "gen_ai.response.finish_reasons": ["end_turn"], "gen_ai.request.temperature": 0.7,
        "gen_ai.request.max_tokens": 256, "gen_ai.conversation.id": "conv-1",
        "gen_ai.response.time_to_first_chunk": 0.25,
    })  # fmt: skip
    deprecated = genai_span(trace, "00f067aa0ba902b8", now + 1, **{
        "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.prompt_tokens": 50, "gen_ai.usage.completion_tokens": 5,
        "gen_ai.operation.name": "text_completion", "error.type": "429",
    })  # fmt: skip
    deprecated["status"] = {"code": 2, "message": "Too Many Requests"}
    tool = genai_span(trace, "00f067aa0ba902b9", now + 2, **{"gen_ai.operation.name": "execute_tool",
                                                           "gen_ai.tool.name": "lookup"})  # fmt: skip
    tool["name"] = "execute_tool lookup"
    body = json.dumps(otlp_json([current, deprecated, tool])).encode()
    with server.client(None) as http:
        response = http.post("/v1/traces", content=body, headers={
            "Authorization": f"Bearer {project_key}", "Content-Type": "application/json"})  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.json() == {}
        # A resend (an exporter's retry) is counted once.
        http.post("/v1/traces", content=gzip.compress(body), headers={
            "Authorization": f"Bearer {project_key}", "Content-Type": "application/json",
            "Content-Encoding": "gzip"})  # fmt: skip
    events = stored_events(server, project_key, 2)
    assert len(events) == 2
    first, second = sorted(events, key=lambda e: e["span_id"])
    assert (first["model_id"], first["model_version"], first["provider"]) == (
        "claude-sonnet-4-6", "claude-sonnet-4-6-20260101", "anthropic")  # fmt: skip
    assert (
        first["tokens_in"],
        first["tokens_out"],
        first["tokens_cached"],
        first["tokens_reasoning"],
    ) == (120, 30, 100, 12)
    assert first["finish_reason"] == "end_turn"
    assert first["temperature"] == pytest.approx(0.7) and first["max_tokens"] == 256
    assert first["session_id"] == "conv-1"
    assert first["ttft_ms"] == pytest.approx(250)
    assert first["latency_ms"] == pytest.approx(1500)
    assert (second["provider"], second["operation"], second["tokens_in"], second["tokens_out"]) == (
        "openai",
        "completion",
        50,
        5,
    )
    assert (second["status"], second["error_type"]) == ("error", "rate_limit")
    spans = get_trace(server, project_key, trace)["spans"]
    assert [(s["type"], s["kind"]) for s in spans] == [
        ("llm", "chat"),
        ("llm", "completion"),
        ("span", "tool"),
    ]


def test_protobuf_answer_and_partial_success(server: Server, project_key: str) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    now = time.time_ns()
    good = Span(trace_id=bytes.fromhex("5bf92f3577b34da6a3ce929d0e0e4736"), span_id=bytes.fromhex("10f067aa0ba902b7"),
                name="chain", start_time_unix_nano=now - 10**9, end_time_unix_nano=now)  # fmt: skip
    bad = Span(trace_id=b"\x00" * 16, span_id=bytes.fromhex("10f067aa0ba902b8"), name="bad",
               start_time_unix_nano=now - 10**9, end_time_unix_nano=now)  # fmt: skip
    backwards = Span(trace_id=bytes.fromhex("5bf92f3577b34da6a3ce929d0e0e4736"), span_id=bytes.fromhex("10f067aa0ba902b9"),
                     name="backwards", start_time_unix_nano=now, end_time_unix_nano=now - 10**9)  # fmt: skip
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[good, bad, backwards])])]
    )
    with server.client(project_key) as http:
        response = http.post("/v1/traces", content=request.SerializeToString(),
                             headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-protobuf"
        answer = ExportTraceServiceResponse.FromString(response.content)
        assert answer.partial_success.rejected_spans == 2
        assert "spans[1].traceId" in answer.partial_success.error_message
        assert "spans[2].endTimeUnixNano" in answer.partial_success.error_message
        server.wait_loaded()
        rejected = http.get("/v1/rejected", params={"from": "-1h"}).json()
        assert {r["source"] for r in rejected["rejected"]} == {"otlp"}
        assert len(rejected["rejected"]) == 2
    assert [
        s["name"]
        for s in get_trace(server, project_key, "5bf92f3577b34da6a3ce929d0e0e4736")["spans"]
    ] == ["chain"]


@pytest.mark.parametrize(
    ("content_type", "body", "status", "field"),
    [
        ("application/x-protobuf", b"\xff\xff\xff garbage", 400, "body"),
        ("application/json", b"{not json", 400, "body"),
        ("application/json", b'{"resourceSpans": {}}', 400, "body.resourceSpans"),
        (
            "application/json",
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab", "startTimeUnixNano": "x"}]}]}]}',
            400,
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano",
        ),
        (
            "application/json",
            json.dumps(
                otlp_json([{"traceId": "zz", "spanId": "10f067aa0ba902b7", "startTimeUnixNano": 1}])
            ).encode(),
            400,
            "resourceSpans[0].scopeSpans[0].spans[0].traceId",
        ),
        ("text/plain", b"hello", 415, "Content-Type"),
    ],
)
def test_bad_payloads(
    server: Server, content_type: str, body: bytes, status: int, field: str
) -> None:
    with server.client() as http:
        response = http.post("/v1/traces", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["error"]
    assert answer["detail"][0]["field"] == field


def test_auth_is_required(server: Server) -> None:
    response = httpx.post(
        f"{server.url}/v1/traces", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (
            {"attributes": [{"key": "n", "value": {"intValue": str(2**70)}}]},
            "attributes[0].value",
            "integer from",
        ),
        (
            {"attributes": [{"key": "n", "value": {"intValue": {"x": 1}}}]},
            "attributes[0].value",
            "must be an integer",
        ),
        (
            {"attributes": [{"key": "n", "value": {"doubleValue": "abc"}}]},
            "attributes[0].value",
            "must be a number",
        ),
        (
            {"attributes": [{"key": "n", "value": {"stringValue": ["a"]}}]},
            "attributes[0].value",
            "must be a string",
        ),
        (
            {"attributes": [{"key": "n", "value": {"boolValue": "yes"}}]},
            "attributes[0].value",
            "true or false",
        ),
        (
            {"attributes": [{"key": 5, "value": {"stringValue": "a"}}]},
            "attributes[0].key",
            "must be a string",
        ),
        ({"attributes": {"n": 1}}, "attributes", "must be an array"),
        ({"startTimeUnixNano": str(10**30)}, "startTimeUnixNano", "integer from 0 to"),
        ({"endTimeUnixNano": str(2**64)}, "endTimeUnixNano", "integer from 0 to"),
        ({"startTimeUnixNano": "-5"}, "startTimeUnixNano", "integer from 0 to"),
        ({"startTimeUnixNano": "1"}, "startTimeUnixNano", "retention window"),
    ],
)
def test_a_bad_span_is_rejected_alone(
    server: Server, project_key: str, change: dict[str, Any], field: str, reason: str
) -> None:
    """A span that breaks the format (wrong attribute types, integers beyond their protobuf
    type, times far out of range) is rejected and dead-lettered by itself; the others of
    the request are stored."""
    now = time.time_ns()
    trace = f"{now:032x}"[-32:]

    def span(span_id: str, **fields: Any) -> dict[str, Any]:
        return {"traceId": trace, "spanId": span_id, "name": "step",
                "startTimeUnixNano": str(now - 10**9), "endTimeUnixNano": str(now), **fields}  # fmt: skip

    body = otlp_json([span("10f067aa0ba902b1"), span("10f067aa0ba902b2", **change)])
    with server.client(project_key) as http:
        response = http.post("/v1/traces", json=body)
        assert response.status_code == 200, response.text
        partial = response.json()["partialSuccess"]
        assert partial["rejectedSpans"] == 1
        assert f"resourceSpans[0].scopeSpans[0].spans[1].{field}: " in partial["errorMessage"]
        assert reason in partial["errorMessage"]
        server.wait_loaded()
        rejected = http.get("/v1/rejected", params={"from": "-1h"}).json()["rejected"]
    assert len(rejected) == 1 and reason in rejected[0]["reason"]
    assert "10f067aa0ba902b2" in rejected[0]["raw"]
    assert [s["name"] for s in get_trace(server, project_key, trace)["spans"]] == ["step"]

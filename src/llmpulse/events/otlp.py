"""OpenTelemetry spans -> LLMPulse: LLM calls become v1 events, other spans trace spans.

Reads the OTel GenAI conventions (current and deprecated names, and OpenLLMetry's
additions) and OpenInference's. docs/instrumentation.md has the mapping table.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from llmpulse.events.content import messages_text, part_text, transcript
from llmpulse.events.errors import error_type_for
from llmpulse.events.jsontext import json_text
from llmpulse.events.normalize import EVENT_ID_NAMESPACE
from llmpulse.events.schema import MAX_ID_CHARS, MAX_TEXT_CHARS

STATUS_ERROR = 2
_NAMESPACE = EVENT_ID_NAMESPACE.bytes
MAX_ATTRIBUTE_CHARS = 4096
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")

# gen_ai.operation.name -> v1 operation, for the operations that are LLM calls.
_GENAI_LLM_OPERATIONS = {
    "chat": "chat",
    "generate_content": "chat",
    "text_completion": "completion",
    "completion": "completion",
    "embeddings": "embedding",
    "embedding": "embedding",
}
# ... and the span kinds of those that are not.
_GENAI_SPAN_KINDS = {"execute_tool": "tool", "invoke_agent": "agent", "create_agent": "agent"}
_OPENINFERENCE_LLM = {"LLM": "chat", "EMBEDDING": "embedding"}
# Span events that mark the first streamed token (OpenInference, OpenLLMetry).
_FIRST_TOKEN_EVENTS = (
    "First Token Stream Event",
    "gen_ai.content.completion.chunk",
    "llm.content.completion.chunk",
)
# Attributes that carry content: stored as prompt/completion or input/output, not twice.
_CONTENT_PREFIXES = (
    "input.",
    "output.",
    "llm.input_messages.",
    "llm.output_messages.",
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
)


@dataclass(slots=True)
class OtlpSpan:
    trace_id: str  # lowercase hex, as OTLP/JSON writes it
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    events: list[tuple[str, int, dict[str, Any]]]  # (name, time_ns, attributes)
    where: str  # its place in the request, for error messages


@dataclass
class MappedSpans:
    """A request's spans: LLM calls as raw v1 events (validated later, like any event)
    and the rest as `trace_spans` rows."""

    events: list[dict[str, Any]] = field(default_factory=list)
    event_places: list[str] = field(default_factory=list)  # each one's place in the request
    spans: list[dict[str, Any]] = field(default_factory=list)
    span_places: list[str] = field(default_factory=list)
    rejections: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


def span_event_id(trace_id: str, span_id: str) -> str:
    """One id per span, the same on every resend: what makes OTLP ingest exactly-once.
    It is `uuid.uuid5(EVENT_ID_NAMESPACE, "trace:span")`, written out for speed."""
    digest = hashlib.sha1(_NAMESPACE + f"{trace_id}:{span_id}".encode()).digest()
    raw = bytearray(digest[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def map_spans(spans: list[OtlpSpan]) -> MappedSpans:
    out = MappedSpans()
    for span in spans:
        problem = _id_problem(span)
        if problem:
            out.rejections.append((f"{span.where}.{problem[0]}", problem[1], _raw(span)))
            continue
        operation = llm_operation(span.attributes)
        if operation is None:
            out.spans.append(_span_row(span))
            out.span_places.append(span.where)
        else:
            out.events.append(_llm_event(span, operation))
            out.event_places.append(span.where)
    return out


def _id_problem(span: OtlpSpan) -> tuple[str, str] | None:
    if not _TRACE_ID.fullmatch(span.trace_id) or span.trace_id == "0" * 32:
        return "traceId", "must be 16 bytes (32 hex characters), not all zero"
    if not _SPAN_ID.fullmatch(span.span_id) or span.span_id == "0" * 16:
        return "spanId", "must be 8 bytes (16 hex characters), not all zero"
    if span.parent_span_id and not _SPAN_ID.fullmatch(span.parent_span_id):
        return "parentSpanId", "must be empty or 8 bytes (16 hex characters)"
    if span.start_ns <= 0:
        return "startTimeUnixNano", "must be set"
    if span.end_ns < span.start_ns:
        return "endTimeUnixNano", "must not be before startTimeUnixNano"
    return None


def llm_operation(a: dict[str, Any]) -> str | None:
    """The v1 operation when the span is an LLM call, else None."""
    kind = a.get("openinference.span.kind")
    if kind is not None:
        return _OPENINFERENCE_LLM.get(str(kind).upper())
    operation = a.get("gen_ai.operation.name")
    if operation is not None:
        return _GENAI_LLM_OPERATIONS.get(str(operation))
    if any(
        key in a
        for key in (
            "gen_ai.request.model",
            "gen_ai.response.model",
            "gen_ai.system",
            "llm.model_name",
        )
    ):
        return _GENAI_LLM_OPERATIONS.get(str(a.get("llm.request.type", "chat")), "chat")
    return None


def _span_kind(a: dict[str, Any]) -> str:
    kind = a.get("openinference.span.kind") or a.get("traceloop.span.kind")
    if kind:
        return str(kind).lower()[:64]
    return _GENAI_SPAN_KINDS.get(str(a.get("gen_ai.operation.name")), "other")


def _first(a: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = a.get(key)
        if value is not None and value != "":
            return value
    return None


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json_text(value)
    return text[:limit]


def _id(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)[:MAX_ID_CHARS]


def _ts(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _raw(span: OtlpSpan) -> dict[str, Any]:
    """A span as kept in the dead-letter table."""
    return {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "parentSpanId": span.parent_span_id,
        "name": span.name,
        "startTimeUnixNano": span.start_ns,
        "endTimeUnixNano": span.end_ns,
        "attributes": dict(span.attributes),
    }


def _json_attr(value: Any) -> Any:
    """An attribute that holds JSON text (OpenInference's metadata, invocation parameters)."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value


_MESSAGE_PREFIXES = (
    "llm.input_messages.",
    "llm.output_messages.",
    "gen_ai.prompt.",
    "gen_ai.completion.",
)
_MESSAGE_KEY = re.compile(
    r"(llm\.input_messages|llm\.output_messages|gen_ai\.prompt|gen_ai\.completion)"
    r"\.(\d+)\.(?:message\.)?(role|content)"
)


def _indexed_messages(a: dict[str, Any]) -> dict[str, str]:
    """Transcripts from flattened message attributes (`llm.input_messages.0.message.role`,
    `gen_ai.prompt.0.content`, ...), by prefix; one pass over the attributes."""
    found: dict[str, dict[int, dict[str, Any]]] = {}
    for key, value in a.items():
        if key.startswith(_MESSAGE_PREFIXES):
            match = _MESSAGE_KEY.fullmatch(key)
            if match:
                found.setdefault(match[1], {}).setdefault(int(match[2]), {})[match[3]] = value
    return {
        prefix: transcript(
            (str(m.get("role", "")), part_text(m.get("content")))
            for _, m in sorted(messages.items())
        )
        for prefix, messages in found.items()
    }


def _otel_messages(value: Any) -> str | None:
    """gen_ai.input.messages / output.messages: JSON [{role, parts: [{type, content}]}]."""
    messages = _json_attr(value)
    return messages_text(messages) if isinstance(messages, list) else None


def _content(a: dict[str, Any]) -> tuple[str | None, str | None]:
    """(prompt, completion): structured messages first, then the raw input/output values."""
    indexed = _indexed_messages(a)
    prompt = (
        indexed.get("llm.input_messages")
        or indexed.get("gen_ai.prompt")
        or _otel_messages(a.get("gen_ai.input.messages"))
        or _first(a, "input.value")
    )
    completion = (
        indexed.get("llm.output_messages")
        or indexed.get("gen_ai.completion")
        or _otel_messages(a.get("gen_ai.output.messages"))
        or _first(a, "output.value")
    )
    return prompt, completion


def _error(span: OtlpSpan) -> tuple[str, str] | None:
    """(error_type, message) when the span failed."""
    a = span.attributes
    name = str(a.get("error.type") or "")
    message = span.status_message
    for event_name, _, attrs in span.events:
        if event_name == "exception":
            name = name or str(attrs.get("exception.type") or "")
            message = message or str(attrs.get("exception.message") or "")
    if span.status_code != STATUS_ERROR and not a.get("error.type"):
        return None
    status = _int(_first(a, "http.response.status_code", "http.status_code"))
    if status is not None and status < 400:
        status = None
    return error_type_for(status, name, message), message


def _ttft_ms(span: OtlpSpan) -> float | None:
    seconds = _float(span.attributes.get("gen_ai.response.time_to_first_chunk"))
    if seconds is not None:
        return seconds * 1000
    for name, time_ns, _ in span.events:
        if name in _FIRST_TOKEN_EVENTS and time_ns >= span.start_ns:
            return (time_ns - span.start_ns) / 1e6
    return None


def _context(span: OtlpSpan) -> dict[str, Any]:
    """Fields every span carries: ids, timing, session and user, where it ran."""
    a, r = span.attributes, span.resource
    return {
        "ts": _ts(span.start_ns),
        "latency_ms": (span.end_ns - span.start_ns) / 1e6,
        "event_id": span_event_id(span.trace_id, span.span_id),
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id or None,
        "session_id": _id(_first(a, "gen_ai.conversation.id", "session.id", "llmpulse.session_id")),
        "user_id": _id(_first(a, "user.id", "enduser.id", "llmpulse.user_id")),
        "environment": _id(
            _first(a, "llmpulse.environment")
            or _first(r, "deployment.environment.name", "deployment.environment")
        ),
    }


def _llm_event(span: OtlpSpan, operation: str) -> dict[str, Any]:
    a, r = span.attributes, span.resource
    params = _json_attr(a.get("llm.invocation_parameters"))
    params = params if isinstance(params, dict) else {}
    # OpenInference's llm.model_name is the model that answered; the one asked for is in
    # the invocation parameters.
    request_model = (
        _first(a, "gen_ai.request.model")
        or params.get("model")
        or _first(a, "llm.model_name", "gen_ai.response.model")
    )
    response_model = _first(a, "gen_ai.response.model", "llm.model_name")
    finish = a.get("gen_ai.response.finish_reasons")
    finish = finish[0] if isinstance(finish, list) and finish else finish
    event = _context(span)
    event.update(
        model_id=_id(request_model) or "unknown",
        model_version=_id(response_model) if response_model != request_model else None,
        provider=_id(
            _first(a, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
        ),
        operation=operation,
        tokens_in=_int(
            _first(
                a,
                "gen_ai.usage.input_tokens",
                "gen_ai.usage.prompt_tokens",
                "llm.token_count.prompt",
            )
        ),
        tokens_out=_int(
            _first(
                a,
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.completion_tokens",
                "llm.token_count.completion",
            )
        ),
        tokens_cached=_int(
            _first(
                a,
                "gen_ai.usage.cache_read.input_tokens",
                "gen_ai.usage.cache_read_input_tokens",
                "llm.token_count.prompt_details.cache_read",
            )
        ),
        tokens_reasoning=_int(
            _first(
                a,
                "gen_ai.usage.reasoning.output_tokens",
                "gen_ai.usage.reasoning_tokens",
                "llm.token_count.completion_details.reasoning",
            )
        ),
        cost_usd=_float(a.get("llm.cost.total")),
        ttft_ms=_ttft_ms(span),
        temperature=_float(_first(a, "gen_ai.request.temperature") or params.get("temperature")),
        max_tokens=_int(
            _first(a, "gen_ai.request.max_tokens", "gen_ai.request.max_completion_tokens")
            or params.get("max_completion_tokens")
            or params.get("max_tokens")
        ),
        finish_reason=_id(finish or a.get("gen_ai.response.finish_reason")),
        stream=_first(a, "gen_ai.request.stream", "gen_ai.is_streaming", "llm.is_streaming"),
        request_id=_id(a.get("gen_ai.response.id")),
        http_status=_int(_first(a, "http.response.status_code", "http.status_code")),
        feature=_id(_first(a, "llmpulse.feature")),
        prompt_version=_id(
            _first(
                a, "llmpulse.prompt_version", "llm.prompt_template.version", "gen_ai.prompt.version"
            )
        ),
        region=_id(_first(r, "cloud.region")),
        client={"app": _id(r.get("service.name"))} if r.get("service.name") else None,
    )
    if isinstance(event["stream"], str):
        event["stream"] = event["stream"].lower() == "true"
    prompt, completion = _content(a)
    if prompt:
        event["prompt"] = _text(prompt, MAX_TEXT_CHARS)
    if completion:
        event["completion"] = _text(completion, MAX_TEXT_CHARS)
    experiment = a.get("llmpulse.experiment.name"), a.get("llmpulse.experiment.variant")
    if experiment[0] and experiment[1]:
        event["experiment"] = {"name": _id(experiment[0]), "variant": _id(experiment[1])}
    error = _error(span)
    if error:
        event["status"], event["error_type"] = "error", error[0]
    metadata = _metadata(a)
    if metadata:
        event["metadata"] = metadata
    tags = _first(a, "tag.tags", "llmpulse.tags")
    if isinstance(tags, list):
        event["tags"] = [str(t)[:MAX_ID_CHARS] for t in tags][:64]
    return {k: v for k, v in event.items() if v is not None}


def _metadata(a: dict[str, Any]) -> dict[str, str]:
    """OpenInference's `metadata` JSON and `llmpulse.metadata.<key>` attributes."""
    out: dict[str, str] = {}
    metadata = _json_attr(a.get("metadata"))
    if isinstance(metadata, dict):
        out.update(
            (str(k)[:MAX_ID_CHARS], _text(v, MAX_ATTRIBUTE_CHARS)) for k, v in metadata.items()
        )
    for key, value in a.items():
        if key.startswith("llmpulse.metadata."):
            out[key.removeprefix("llmpulse.metadata.")[:MAX_ID_CHARS]] = _text(
                value, MAX_ATTRIBUTE_CHARS
            )
    return out


def _span_row(span: OtlpSpan) -> dict[str, Any]:
    a = span.attributes
    row = _context(span)
    error = _error(span)
    row.update(
        ts=span.start_ns / 1e9,  # a row for the store as it is, not an event to validate
        name=span.name[:MAX_ID_CHARS],
        kind=_span_kind(a),
        status="error" if error else "ok",
        error_type=error[0] if error else None,
        error_message=error[1][:MAX_ATTRIBUTE_CHARS] if error else None,
        service=_id(span.resource.get("service.name")),
        input=_text(_first(a, "input.value") or "", MAX_TEXT_CHARS) or None,
        output=_text(_first(a, "output.value") or "", MAX_TEXT_CHARS) or None,
        attributes={
            key[:MAX_ID_CHARS]: _text(value, MAX_ATTRIBUTE_CHARS)
            for key, value in a.items()
            if not key.startswith(_CONTENT_PREFIXES)
        },
    )
    return {k: v for k, v in row.items() if v is not None}

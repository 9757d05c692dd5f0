"""The shapes of the ingest routes' answers and request bodies, for the OpenAPI document
(answers are built as plain data; tests/test_api_schema.py holds them to these)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, TypeAdapter

from llmpulse.api.errors import ErrorBody
from llmpulse.events.custom_metrics import MetricV1
from llmpulse.events.logs import LogV1
from llmpulse.events.posts import PostV1
from llmpulse.events.schema import EventV1


class EventError(BaseModel):
    index: int = Field(description="the event's position in the request (NDJSON: line order)")
    field: str
    error: str


class Accepted(BaseModel):
    accepted: int
    rejected: int
    errors: list[EventError]


class NoneAccepted(ErrorBody):
    """A body that cannot be read has `error` and `detail` only; one whose events were all
    invalid also lists each event's problems."""

    accepted: int = 0
    rejected: int = 0
    errors: list[EventError] = Field(default_factory=list)


class PartialSuccess(BaseModel):
    rejectedSpans: int
    errorMessage: str


class LogsPartialSuccess(BaseModel):
    rejectedLogRecords: int
    errorMessage: str


class OtlpLogsAnswer(BaseModel):
    """ExportLogsServiceResponse in OTLP/JSON (`{}` when every record was stored)."""

    partialSuccess: LogsPartialSuccess | None = None


class MetricsPartialSuccess(BaseModel):
    rejectedDataPoints: int
    errorMessage: str


class OtlpMetricsAnswer(BaseModel):
    """ExportMetricsServiceResponse in OTLP/JSON (`{}` when every point was stored)."""

    partialSuccess: MetricsPartialSuccess | None = None


class TraceAnswer(BaseModel):
    """ExportTraceServiceResponse in OTLP/JSON (`{}` when every span was stored); protobuf
    requests get it as protobuf."""

    partialSuccess: PartialSuccess | None = None


def _inlined(node: Any, definitions: dict[str, Any]) -> Any:
    """A JSON schema with its local `$ref`s replaced by what they name."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inlined(definitions[node["$ref"].rsplit("/", 1)[1]], definitions)
        return {k: _inlined(v, definitions) for k, v in node.items()}
    if isinstance(node, list):
        return [_inlined(v, definitions) for v in node]
    return node


def _records_body(record: Any, what: str, otlp: str | None = None) -> dict[str, Any]:
    """A request body of one record, an array of them, or NDJSON (and OTLP/HTTP)."""
    schema = TypeAdapter(record).json_schema()
    one = _inlined(schema, schema.pop("$defs", {}))
    many = {"type": "array", "items": one, "maxItems": 10_000}
    json_schema: dict[str, Any] = {"oneOf": [one, many]}
    content: dict[str, Any] = {}
    if otlp:
        json_schema["oneOf"].append({"type": "object", "description": f"an OTLP/JSON {otlp}"})
        content["application/x-protobuf"] = {"schema": {"type": "string", "format": "binary"}}
    content["application/json"] = {"schema": json_schema}
    content["application/x-ndjson"] = {"schema": {"type": "string"}}
    return {
        "required": True,
        "description": f"{what}; `Content-Encoding: gzip` optional",
        "content": content,
    }


EVENTS_BODY = _records_body(EventV1, "v1 events (docs/event-schema.md)")
POSTS_BODY = _records_body(PostV1, "posts (docs/social.md), or X API v2 post objects")
LOGS_BODY = _records_body(
    LogV1, "v1 log records (docs/logs-and-metrics.md)", "ExportLogsServiceRequest"
)
METRICS_BODY = _records_body(
    MetricV1, "v1 metric points (docs/logs-and-metrics.md)", "ExportMetricsServiceRequest"
)
BINARY = {"schema": {"type": "string", "format": "binary"}}
TRACES_BODY = {
    "required": True,
    "description": "an OTLP ExportTraceServiceRequest; `Content-Encoding: gzip` optional",
    "content": {
        "application/x-protobuf": BINARY,
        "application/json": {"schema": {"type": "object"}},
    },
}

"""The shapes of the ingest routes' answers and request bodies, for the OpenAPI document
(answers are built as plain data; tests/test_api_schema.py holds them to these)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, TypeAdapter

from llmpulse.api.errors import ErrorBody
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


def _events_body() -> dict[str, Any]:
    """The request body of POST /v1/events: one event, an array of them, or NDJSON."""
    schema = TypeAdapter(EventV1).json_schema()
    event = _inlined(schema, schema.pop("$defs", {}))
    return {
        "required": True,
        "description": "v1 events (docs/event-schema.md); `Content-Encoding: gzip` optional",
        "content": {
            "application/json": {
                "schema": {"oneOf": [event, {"type": "array", "items": event, "maxItems": 10_000}]}
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }


EVENTS_BODY = _events_body()
BINARY = {"schema": {"type": "string", "format": "binary"}}
TRACES_BODY = {
    "required": True,
    "description": "an OTLP ExportTraceServiceRequest; `Content-Encoding: gzip` optional",
    "content": {
        "application/x-protobuf": BINARY,
        "application/json": {"schema": {"type": "object"}},
    },
}

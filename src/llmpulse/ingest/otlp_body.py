"""Decode an OTLP/HTTP trace export (protobuf or JSON) into plain spans.

Both encodings end in the same `OtlpSpan`, so one mapping (events/otlp.py) serves both. JSON
follows the OTLP/JSON rules: ids are hex strings, enums integers, 64-bit integers may be
strings; lowerCamelCase keys, snake_case accepted too.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmpulse.events.otlp import OtlpSpan
from llmpulse.events.otlp_values import pb_attributes
from llmpulse.ingest.body import BodyError


@dataclass
class DecodedSpans:
    spans: list[OtlpSpan] = field(default_factory=list)
    # (field at fault with its place in the request, reason, the part as received)
    rejections: list[tuple[str, str, Any]] = field(default_factory=list)


# --- protobuf ---------------------------------------------------------------------------


def decode_protobuf(body: bytes) -> DecodedSpans:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, ValueError) as exc:
        raise BodyError(400, "body", f"not an OTLP ExportTraceServiceRequest: {exc}") from exc
    spans = []  # protobuf's types leave nothing to reject span by span
    for r, resource_spans in enumerate(request.resource_spans):
        resource = pb_attributes(resource_spans.resource.attributes)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            for i, span in enumerate(scope_spans.spans):
                spans.append(
                    OtlpSpan(
                        span.trace_id.hex(),
                        span.span_id.hex(),
                        span.parent_span_id.hex(),
                        span.name,
                        span.start_time_unix_nano,
                        span.end_time_unix_nano,
                        span.status.code,
                        span.status.message,
                        pb_attributes(span.attributes),
                        resource,
                        [
                            (e.name, e.time_unix_nano, pb_attributes(e.attributes))
                            for e in span.events
                        ],
                        f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]",
                    )
                )
    return DecodedSpans(spans)


# --- JSON -------------------------------------------------------------------------------


def _get(obj: dict[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    value = obj.get(camel)
    return obj.get(snake, default) if value is None else value


def _list(obj: dict[str, Any], camel: str, snake: str, where: str) -> list[Any]:
    value = _get(obj, camel, snake, [])
    if not isinstance(value, list):
        raise BodyError(400, f"{where}.{camel}", "must be an array")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BodyError(400, where, "must be an object")
    return value


def _json_value(value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise BodyError(400, where, 'must be an AnyValue object such as {"stringValue": ...}')
    for key, item in value.items():
        if key in ("stringValue", "string_value"):
            return _typed(item, str, "a string", where)
        if key in ("boolValue", "bool_value"):
            return _typed(item, bool, "true or false", where)
        if key in ("intValue", "int_value"):
            return _json_int(item, where, INT64)
        if key in ("doubleValue", "double_value"):
            return _json_double(item, where)
        if key in ("arrayValue", "array_value"):
            values = _list(_object(item, where), "values", "values", where)
            return [_json_value(v, f"{where}.values[{n}]") for n, v in enumerate(values)]
        if key in ("kvlistValue", "kvlist_value"):
            return _json_attributes(_list(_object(item, where), "values", "values", where), where)
        if key in ("bytesValue", "bytes_value"):
            return base64.b64decode(item).hex()
    return None


def _json_attributes(pairs: list[Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n, pair in enumerate(pairs):
        here = f"{where}[{n}]"
        key = _object(pair, here).get("key")
        if not isinstance(key, str):
            raise BodyError(400, f"{here}.key", "must be a string")
        out[key] = _json_value(pair.get("value", {}), f"{here}.value")
    return out


INT64 = (-(2**63), 2**63 - 1)  # intValue
UINT64 = (0, 2**64 - 1)  # fixed64 times (ns since the epoch)


def _json_int(value: Any, where: str, bounds: tuple[int, int]) -> int:
    """An OTLP/JSON integer (a number or a decimal string) within its protobuf type."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BodyError(400, where, f"must be an integer, got {_short(value)}") from None
    if not bounds[0] <= number <= bounds[1]:
        raise BodyError(400, where, f"must be an integer from {bounds[0]} to {bounds[1]}")
    return number


def _json_double(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BodyError(400, where, f"must be a number, got {_short(value)}")
    try:
        return float(value)  # "NaN", "Infinity" are OTLP/JSON's spelling of those
    except (ValueError, OverflowError):
        raise BodyError(400, where, f"must be a number, got {_short(value)}") from None


def _typed(value: Any, kind: type, name: str, where: str) -> Any:
    if not isinstance(value, kind):
        raise BodyError(400, where, f"must be {name}, got {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_span(raw: Any, resource: dict[str, Any], where: str) -> OtlpSpan:
    span = _object(raw, where)
    status = _object(_get(span, "status", "status", {}), f"{where}.status")
    events = []
    for n, event in enumerate(_list(span, "events", "events", where)):
        here = f"{where}.events[{n}]"
        event = _object(event, here)
        events.append(
            (
                str(event.get("name", "")),
                _json_int(
                    _get(event, "timeUnixNano", "time_unix_nano", 0),
                    f"{here}.timeUnixNano",
                    UINT64,
                ),
                _json_attributes(_list(event, "attributes", "attributes", here), here),
            )
        )
    return OtlpSpan(
        str(_get(span, "traceId", "trace_id", "")).lower(),
        str(_get(span, "spanId", "span_id", "")).lower(),
        str(_get(span, "parentSpanId", "parent_span_id", "")).lower(),
        str(span.get("name", "")),
        _json_int(
            _get(span, "startTimeUnixNano", "start_time_unix_nano", 0),
            f"{where}.startTimeUnixNano",
            UINT64,
        ),
        _json_int(
            _get(span, "endTimeUnixNano", "end_time_unix_nano", 0),
            f"{where}.endTimeUnixNano",
            UINT64,
        ),
        _json_int(status.get("code", 0), f"{where}.status.code", (0, 2)),
        str(status.get("message", "")),
        _json_attributes(_list(span, "attributes", "attributes", where), f"{where}.attributes"),
        resource,
        events,
        where,
    )


def decode_json(body: bytes) -> DecodedSpans:
    """The spans of an OTLP/JSON request. A span (or a resource) that breaks the format is
    rejected on its own, with its place and reason; only a body that is not an export
    request at all raises BodyError."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, "body", f"malformed JSON: {exc}") from exc
    request = _object(request, "body")
    out = DecodedSpans()
    for r, resource_spans in enumerate(_list(request, "resourceSpans", "resource_spans", "body")):
        where = f"resourceSpans[{r}]"
        try:
            resource_spans = _object(resource_spans, where)
            resource_obj = _object(
                _get(resource_spans, "resource", "resource", {}), f"{where}.resource"
            )
            resource = _json_attributes(
                _list(resource_obj, "attributes", "attributes", f"{where}.resource"),
                f"{where}.resource.attributes",
            )
            scopes = _list(resource_spans, "scopeSpans", "scope_spans", where)
        except BodyError as exc:
            out.rejections.append((exc.field, exc.message, resource_spans))
            continue
        for s, scope_spans in enumerate(scopes):
            here = f"{where}.scopeSpans[{s}]"
            try:
                spans = _list(_object(scope_spans, here), "spans", "spans", here)
            except BodyError as exc:
                out.rejections.append((exc.field, exc.message, scope_spans))
                continue
            for i, span in enumerate(spans):
                try:
                    out.spans.append(_json_span(span, resource, f"{here}.spans[{i}]"))
                except BodyError as exc:
                    out.rejections.append((exc.field, exc.message, span))
    return out


# --- logs and metrics -------------------------------------------------------------------

_Message = TypeVar("_Message", bound=ProtoMessage)
# Ids in OTLP/JSON are hex, where protobuf's JSON mapping expects base64.
_HEX_IDS = ("traceId", "spanId", "trace_id", "span_id")


def otlp_protobuf(data: bytes, message: type[_Message]) -> _Message:
    """An OTLP/HTTP export request of `message`'s type, from protobuf."""
    try:
        return message.FromString(data)
    except (DecodeError, ValueError) as exc:
        raise BodyError(400, "body", f"not an OTLP {message.DESCRIPTOR.name}: {exc}") from exc


def otlp_json(parsed: dict[str, Any], message: type[_Message]) -> _Message:
    """An OTLP/HTTP export request of `message`'s type, from its OTLP/JSON object."""
    try:
        return json_format.ParseDict(_base64_ids(parsed), message(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        name = message.DESCRIPTOR.name
        raise BodyError(400, "body", f"not an OTLP/JSON {name}: {exc}") from exc


def _base64_ids(node: Any) -> Any:
    if isinstance(node, list):
        return [_base64_ids(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in _HEX_IDS and isinstance(value, str):
            try:
                value = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise BodyError(400, key, f"must be a hex string, got {_short(value)}") from None
        out[key] = _base64_ids(value)
    return out

"""OTLP protobuf attribute values as plain Python values, for every OTLP signal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def pb_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [pb_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return pb_attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def pb_attributes(pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        out[pair.key] = pb_value(pair.value)
    return out


def scalar_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """Attributes as metadata values: lists and maps as JSON text."""
    return {
        k: v if isinstance(v, str | int | float | bool) else orjson.dumps(v).decode()
        for k, v in attributes.items()
        if v is not None
    }


def from_unix_nano(nanos: int) -> datetime | None:
    """A time in nanoseconds since the epoch (0: not set), to the microsecond."""
    if not nanos:
        return None
    return _EPOCH + timedelta(microseconds=nanos // 1000)

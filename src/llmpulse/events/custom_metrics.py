"""Custom metric points: the v1 metric schema, checked into `custom_metrics` rows
(docs/logs-and-metrics.md). OTLP metrics are mapped to this shape by events/otlp_metrics.

A name keeps its type: a point whose type differs from the one the project's metric of
that name already has is rejected (the request carries the known types, see
ingest/prepare.py), since a gauge and a counter of one name cannot be charted as one.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal, NotRequired

import orjson
from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from llmpulse.events.normalize import Batch, canonical_event_id, collect, epoch_ms
from llmpulse.events.schema import Id, validation_problems

METRIC_ID_NAMESPACE: Final = uuid.UUID("a4b2e8c1-5d3f-4a69-8e07-c1d9f2b3a6e5")
TYPES: Final = ("gauge", "counter", "histogram")
MAX_TAGS: Final = 32
NAME_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,199}$"
TAG_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}")
MetricName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
MetricType = Literal["gauge", "counter", "histogram"]
Temporality = Literal["delta", "cumulative"]


def _tags(value: dict[str, Any]) -> dict[str, str]:
    if len(value) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    out = {}
    for name, tag in value.items():
        if not TAG_PATTERN.fullmatch(name):
            raise ValueError(
                f"tag name {name!r}: use letters, digits, _ . - (starting with a letter or _)"
            )
        if not isinstance(tag, str | int | float | bool) or len(str(tag)) > 1000:
            raise ValueError(f"tag {name!r}: a string, number or boolean up to 1000 characters")
        out[name] = str(tag).lower() if isinstance(tag, bool) else str(tag)
    return out


class MetricV1(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    name: MetricName
    value: Annotated[float, Field(allow_inf_nan=False)]
    type: NotRequired[MetricType | None]
    ts: NotRequired[datetime | None]
    tags: NotRequired[dict[str, Any] | None]
    unit: NotRequired[Id | None]
    event_id: NotRequired[Id | None]
    # OTLP's pre-aggregated points (events/otlp_metrics.py); a v1 point is one observation.
    temporality: NotRequired[Temporality | None]
    count: NotRequired[Annotated[int, Field(ge=0)] | None]
    min: NotRequired[float | None]
    max: NotRequired[float | None]
    bounds: NotRequired[list[float] | None]
    bucket_counts: NotRequired[list[Annotated[int, Field(ge=0)]] | None]


metric_validator: Final = TypeAdapter(MetricV1)


def metrics_batch(
    items: list[Any],
    project: str,
    received_ms: int,
    ts_problem: Any,
    known_types: Mapping[str, str],
    malformed: Mapping[int, str],
) -> Batch:
    """Check each point into a `custom_metrics` row. `known_types` are the project's
    metrics' types; a name new to it takes the type of its first point in the request."""
    types = dict(known_types)

    def one(item: Any, out: Batch) -> list[tuple[str, str]]:
        return _metric_row(item, project, received_ms, ts_problem, types, out)

    return collect(items, malformed, one)


def _metric_row(
    item: Any,
    project: str,
    received_ms: int,
    ts_problem: Any,
    types: dict[str, str],
    out: Batch,
) -> list[tuple[str, str]]:
    if not isinstance(item, dict):
        return [("", f"a metric point must be a JSON object, got {type(item).__name__}")]
    try:
        point: dict[str, Any] = metric_validator.validate_python(item)  # type: ignore[assignment]
        tags = _tags(point.get("tags") or {})
    except ValidationError as exc:
        return [(f, _name_reason(f, e)) for f, e in validation_problems(exc)]
    except ValueError as exc:
        return [("tags", str(exc))]
    name, kind = point["name"], point.get("type") or "gauge"
    known = types.setdefault(name, kind)
    if known != kind:
        return [("type", f"metric {name!r} is a {known}; a {kind} needs a name of its own")]
    value, temporality = point["value"], point.get("temporality") or "delta"
    if kind == "counter" and value < 0:
        return [("value", "a counter's value is an increment and must not be negative")]
    bounds, buckets = point.get("bounds") or [], point.get("bucket_counts") or []
    if buckets and len(buckets) != len(bounds) + 1:
        return [("bucket_counts", "must have one more count than bounds")]
    ts = point.get("ts")
    ts_ms = received_ms if ts is None else epoch_ms(ts)
    problem = ts_problem(ts_ms, received_ms)
    if problem:
        return [("ts", problem)]
    row: dict[str, Any] = {
        "project": project,
        "name": name,
        "ts": ts_ms / 1000,
        "type": kind,
        "temporality": temporality,
        "value": value,
        "count": point.get("count") if point.get("count") is not None else 1,
        "min": _finite(point.get("min")),
        "max": _finite(point.get("max")),
        "bounds": bounds,
        "bucket_counts": buckets,
        "unit": point.get("unit") or "",
        "tags": tags,
        "received_at": received_ms / 1000,
    }
    given = point.get("event_id")
    row["event_id"] = canonical_event_id(given) if given else _point_id(row)
    out.rows.append(row)
    out.keys.append((row["event_id"], ts_ms, ts is None))
    return []


def _name_reason(field: str, error: str) -> str:
    if field == "name" and "pattern" in error:
        return (
            "must start with a letter or _ and hold only letters, digits and _ . : / - "
            "(no spaces), up to 200 characters"
        )
    return error


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _point_id(row: dict[str, Any]) -> str:
    """A point sent without an id is known by its series, time and value: a retry of it is
    stored once (as Prometheus keeps one sample per series and time)."""
    key = orjson.dumps(
        [row["name"], row["type"], row["ts"], row["value"], row["count"], row["tags"]],
        option=orjson.OPT_SORT_KEYS,
    )
    return str(uuid.uuid5(METRIC_ID_NAMESPACE, key.decode()))

"""Application log records: the v1 log schema, checked into `app_logs` rows
(docs/logs-and-metrics.md). OTLP log records are mapped to this shape by events/otlp_logs.

A level is a Python level name (DEBUG, INFO, WARNING, ERROR, CRITICAL; also WARN, FATAL,
TRACE) or an OpenTelemetry severity number (1-24), which maps to the name of its range.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Final, NotRequired

import orjson
from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from llmpulse.events.normalize import (
    Batch,
    canonical_event_id,
    collect,
    epoch_ms,
    metadata_map,
)
from llmpulse.events.schema import Id, Scalar, validation_problems

LOG_ID_NAMESPACE: Final = uuid.UUID("3c9e1d0a-8b7f-4e2a-b6d5-7a1f0c2e9b48")
MAX_MESSAGE_CHARS: Final = 100_000
LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The OpenTelemetry severity number each level is stored with (the first of its range).
SEVERITY: Final = {"DEBUG": 5, "INFO": 9, "WARNING": 13, "ERROR": 17, "CRITICAL": 21}
_ALIASES: Final = {"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL", "ERR": "ERROR"}
HexId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]+$", max_length=32)]


class LogV1(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    message: Annotated[str, StringConstraints(max_length=MAX_MESSAGE_CHARS)]
    level: NotRequired[str | None]
    severity_number: NotRequired[Annotated[int, Field(ge=1, le=24)] | None]
    ts: NotRequired[datetime | None]
    event_id: NotRequired[Id | None]
    logger: NotRequired[Id | None]
    service: NotRequired[Id | None]
    trace_id: NotRequired[HexId | None]
    span_id: NotRequired[HexId | None]
    attributes: NotRequired[dict[Id, Scalar] | None]


log_validator: Final = TypeAdapter(LogV1)


def level_of(level: str | None, severity_number: int | None) -> tuple[str, int] | str:
    """(level name, severity number), or why the level cannot be read."""
    if level is not None:
        name = level.strip().upper()
        name = _ALIASES.get(name, name)
        if name not in SEVERITY:
            choices = ", ".join(LEVELS)
            return (
                f"unknown level {level!r}: use one of {choices} (or an OTel severity number 1-24)"
            )
        return name, severity_number or SEVERITY[name]
    if severity_number is None:
        return "INFO", SEVERITY["INFO"]
    # OTel ranges of four: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL.
    name = ("DEBUG", *LEVELS)[(severity_number - 1) // 4]
    return name, severity_number


def log_event_id(row: dict[str, Any]) -> str:
    """A record sent without an id gets one from its content and time to the microsecond,
    so an exporter's retry of it is stored once."""
    key = orjson.dumps(
        [row["ts"], row["level"], row["message"], row.get("logger"), row.get("service"),
         row.get("trace_id"), row.get("span_id"), row.get("attributes")],
        option=orjson.OPT_SORT_KEYS,
    )  # fmt: skip
    return str(uuid.uuid5(LOG_ID_NAMESPACE, key.decode()))


def logs_batch(items: list[Any], project: str, received_ms: int, ts_problem: Any,
               malformed: dict[int, str]) -> Batch:  # fmt: skip
    """Check each record into an `app_logs` row."""

    def one(item: Any, out: Batch) -> list[tuple[str, str]]:
        return _log_row(item, project, received_ms, ts_problem, out)

    return collect(items, malformed, one)


def _log_row(
    item: Any, project: str, received_ms: int, ts_problem: Any, out: Batch
) -> list[tuple[str, str]]:
    if not isinstance(item, dict):
        return [("", f"a log record must be a JSON object, got {type(item).__name__}")]
    try:
        record: dict[str, Any] = log_validator.validate_python(item)  # type: ignore[assignment]
    except ValidationError as exc:
        return validation_problems(exc)
    level = level_of(record.get("level"), record.get("severity_number"))
    if isinstance(level, str):
        return [("level", level)]
    ts = record.get("ts")
    # Microseconds: log lines of one request are often within the same millisecond.
    ts_us = received_ms * 1000 if ts is None else epoch_ms(ts) * 1000 + ts.microsecond % 1000
    problem = ts_problem(ts_us // 1000, received_ms)
    if problem:
        return [("ts", problem)]
    row: dict[str, Any] = {
        "project": project,
        "ts": ts_us / 1_000_000,
        "level": level[0],
        "severity_number": level[1],
        "message": record["message"],
        "logger": record.get("logger") or "",
        "service": record.get("service") or "",
        "trace_id": (record.get("trace_id") or "").lower(),
        "span_id": (record.get("span_id") or "").lower(),
        "received_at": received_ms / 1000,
    }
    attributes = record.get("attributes")
    if attributes:
        row["attributes"], problems = metadata_map(attributes, {})
        if problems:
            return problems
    given = record.get("event_id")
    row["event_id"] = canonical_event_id(given) if given else log_event_id(row)
    out.rows.append(row)
    out.keys.append((row["event_id"], ts_us // 1000, ts is None))
    return []

"""Spool records for the other signals: social posts, application logs and custom metrics,
in the v1 shapes (JSON object, array or NDJSON) and, for logs and metrics, OTLP/HTTP
(protobuf or JSON). Like prepare.py, pure functions of the request, run in the workers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from llmpulse.events.custom_metrics import MetricV1, metrics_batch
from llmpulse.events.logs import LogV1, logs_batch
from llmpulse.events.normalize import Batch, Normalizer
from llmpulse.events.otlp_logs import map_logs
from llmpulse.events.otlp_metrics import map_metrics
from llmpulse.events.posts import POST_FIELDS, SocialPolicy, posts_batch, unpack
from llmpulse.ingest import records
from llmpulse.ingest.body import BodyError, decompress, media_type, parse_events
from llmpulse.ingest.otlp_body import otlp_json, otlp_protobuf
from llmpulse.ingest.prepare import (
    PROTOBUF_TYPES,
    IngestRequest,
    Prepared,
    dead_letters,
    prepare,
    unreadable,
    v1_answer,
)

# OTLP answers name what they count by signal (ExportLogsPartialSuccess, ...).
_OTLP_REJECTED = {"logs": "rejectedLogRecords", "metrics": "rejectedDataPoints"}
_KINDS = {"posts": records.POSTS, "logs": records.LOGS, "metrics": records.METRICS}
# What the project's server-side redaction reads in a log row: its text, then its map.
_REDACTED_LOG = (("message",), ("attributes",))
_NOUNS = {"posts": "post", "logs": "log record", "metrics": "metric point"}
_FIELDS = {
    "posts": POST_FIELDS,
    "logs": frozenset(LogV1.__annotations__),
    "metrics": frozenset(MetricV1.__annotations__),
}


def prepare_request(normalizer: Normalizer, request: IngestRequest) -> Prepared:
    """The spool records and answer for any ingest request."""
    if request.kind not in _KINDS:
        return prepare(normalizer, request)
    protobuf = media_type(request.content_type) in PROTOBUF_TYPES
    try:
        data = decompress(request.body, request.content_encoding)
        if protobuf and request.kind in _OTLP:
            request = replace(request, source="otlp")
            items, places, malformed = _OTLP[request.kind](
                otlp_protobuf(data, _MESSAGES[request.kind])
            )
        else:
            if protobuf:
                raise BodyError(415, "Content-Type", "posts are sent as JSON or NDJSON")
            body = parse_events(data, request.content_type)
            otlp_object = _otlp_object(request.kind, body.items)
            if otlp_object is not None:
                request = replace(request, source="otlp")
                message = otlp_json(otlp_object, _MESSAGES[request.kind])
                items, places, malformed = _OTLP[request.kind](message)
            else:
                items, malformed = body.items, body.malformed
                places = [f"item {i}" for i in range(len(items))]
    except BodyError as exc:
        # OTLP protobuf is not text: only unreadable JSON is kept as a dead letter.
        return unreadable(request, exc, keep=not protobuf)
    raw = items
    batch: Batch
    if request.kind == "posts":
        posts = unpack(items, malformed)
        raw, places = posts.raw, posts.places
        batch = posts_batch(
            posts, request.project, request.received_ms, request.social or SocialPolicy(),
            normalizer.ts_problem,
        )  # fmt: skip
    elif request.kind == "logs":
        batch = logs_batch(
            items, request.project, request.received_ms, normalizer.ts_problem, malformed
        )
    else:
        batch = metrics_batch(
            items, request.project, request.received_ms, normalizer.ts_problem,
            request.metric_types or {}, malformed,
        )  # fmt: skip
    return _prepared(request, batch, raw, places, request.source == "otlp")


def _otlp_object(kind: str, items: list[Any]) -> dict[str, Any] | None:
    """The body's OTLP/JSON export request, when it is one (a single object holding
    resourceLogs or resourceMetrics) rather than v1 records."""
    if kind not in _OTLP or len(items) != 1 or not isinstance(items[0], dict):
        return None
    camel = "resourceLogs" if kind == "logs" else "resourceMetrics"
    snake = "resource_logs" if kind == "logs" else "resource_metrics"
    return items[0] if camel in items[0] or snake in items[0] else None


def _log_items(message: Any) -> tuple[list[Any], list[str], dict[int, str]]:
    logs, places = map_logs(message)
    return logs, places, {}


_OTLP: dict[str, Callable[[Any], tuple[list[Any], list[str], dict[int, str]]]] = {
    "logs": _log_items,
    "metrics": map_metrics,
}
_MESSAGES: dict[str, Any] = {
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
}


def _prepared(
    request: IngestRequest, batch: Batch, raw: list[Any], places: list[str], otlp: bool
) -> Prepared:
    noun = _NOUNS[request.kind]
    for r in batch.rejections:  # an index of the request's items reads as its place
        r.field = f"{places[r.index]}: {r.field}" if otlp and r.field else r.field
    if otlp:
        answer = _otlp_answer(request.kind, batch, noun)
        status = 200 if batch.rows or not batch.rejections else 400
    else:
        answer, status = v1_answer(batch, noun), 202 if batch.rows else 400
    if request.redaction and request.kind == "logs":  # log lines carry what users typed
        for row in batch.rows:
            request.redaction.event(row, *_REDACTED_LOG)
    out = Prepared(status, answer, accepted=len(batch.rows))
    fields = _FIELDS[request.kind]
    # The schema field at fault, for a metric label (never a client's own key: unbounded).
    out.rejected_fields.update(
        Counter(
            top if (top := r.field.split(".", 1)[0]) in fields else noun for r in batch.rejections
        )
    )
    if batch.rows:
        keys = [(request.project, eid, ts, defaulted) for eid, ts, defaulted in batch.keys]
        out.payloads.append(records.encode(_KINDS[request.kind], keys, batch.rows))
    if batch.rejections:
        out.payloads.append(dead_letters(request, batch, raw, noun))
    if request.kind == "metrics":
        known = request.metric_types or {}
        out.new_metric_types = {r["name"]: r["type"] for r in batch.rows if r["name"] not in known}
    return out


def _otlp_answer(kind: str, batch: Batch, noun: str) -> dict[str, Any]:
    """An Export*ServiceResponse in OTLP/JSON: `{}` when all was stored."""
    if not batch.rejections:
        return {}
    reasons = [f"{r.field}: {r.error}" if r.field else r.error for r in batch.rejections]
    message = "; ".join(reasons[:20]) + (
        f" (and {len(reasons) - 20} more)" if len(reasons) > 20 else ""
    )
    if not batch.rows:
        return {
            "error": f"no {noun} could be stored: {message}",
            "detail": [{"field": r.field, "error": r.error} for r in batch.rejections[:100]],
        }
    rejected = len(batch.rejected_indexes)
    return {"partialSuccess": {_OTLP_REJECTED[kind]: rejected, "errorMessage": message}}

"""Turn one request body into spool records: parse, validate, normalize, encode.

A pure function of its inputs, so it can run in worker processes (see workers.py): this
is where ingest spends its CPU, and one process's GIL would cap it at one core.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmpulse.events.jsontext import json_text
from llmpulse.events.normalize import Batch, Normalizer
from llmpulse.events.otlp import map_spans
from llmpulse.events.posts import SocialPolicy
from llmpulse.events.redaction import RedactionPolicy
from llmpulse.events.schema import EVENT_FIELDS
from llmpulse.ingest import records
from llmpulse.ingest.body import BodyError, decompress, media_type, parse_events
from llmpulse.ingest.genai_metrics import Call
from llmpulse.ingest.otlp_body import decode_json, decode_protobuf
from llmpulse.pricing.dated import ProjectPrices

PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf")

MAX_RAW_KEPT = 1024 * 1024  # bytes of a rejected payload kept in the dead-letter table


@dataclass
class Prepared:
    """What to spool for a request and what to answer."""

    status: int
    answer: dict[str, Any]
    payloads: list[bytes] = field(default_factory=list)
    accepted: int = 0
    rejected_fields: Counter[str] = field(default_factory=Counter)
    error: tuple[int, str, str] | None = None  # a BodyError's (status, field, message)
    new_metric_types: dict[str, str] = field(default_factory=dict)  # metrics: names first seen

    def raise_error(self) -> None:
        if self.error is not None:
            raise BodyError(*self.error)


@dataclass(frozen=True)
class IngestRequest:
    """One ingest request as received: what `prepare` needs, small enough to pickle."""

    body: bytes
    content_type: str | None
    content_encoding: str | None
    project: str
    source: str  # where it came from, kept with dead letters: "http", "otlp", "amqp"
    received_ms: int
    prices: ProjectPrices | None = None  # the project's dated price overrides
    redaction: RedactionPolicy | None = None  # the project's server-side redaction
    # What the body holds: "events", "traces" (OTLP), "posts", "logs", "metrics" (v1 or OTLP).
    kind: str = "events"
    social: SocialPolicy | None = None  # posts: the project's enrichment settings
    metric_types: Mapping[str, str] | None = None  # metrics: the project's types by name


# What redaction reads in each kind of row: text columns, then maps of text values.
_REDACTED_EVENT = (("prompt", "completion"), ("metadata",))
_REDACTED_SPAN = (("input", "output", "error_message", "name"), ("attributes",))


def prepare(normalizer: Normalizer, request: IngestRequest) -> Prepared:
    if request.kind == "traces":
        return prepare_otlp(normalizer, request)
    project, received_ms = request.project, request.received_ms
    try:
        body = parse_events(
            decompress(request.body, request.content_encoding), request.content_type
        )
    except BodyError as exc:
        return unreadable(request, exc, keep=True)
    items = body.items
    batch = normalizer.batch(items, project, received_ms, request.prices, body.malformed)
    if request.redaction:
        for row in batch.rows:
            request.redaction.event(row, *_REDACTED_EVENT)
    out = Prepared(
        202 if batch.rows else 400,
        v1_answer(batch, "event"),
        accepted=len(batch.rows),
        rejected_fields=Counter(metric_reason(r.field) for r in batch.rejections),
    )
    if batch.rows:
        out.payloads.append(_events_payload(project, request.source, batch))
    if batch.rejections:
        out.payloads.append(dead_letters(request, batch, items, "event"))
    return out


def v1_answer(batch: Batch, noun: str) -> dict[str, Any]:
    """How many items were stored, and each rejected one's problems; with no item stored,
    an error answer like any other."""
    errors = [r.as_dict() for r in batch.rejections]
    answer: dict[str, Any] = {
        "accepted": len(batch.rows),
        "rejected": len(batch.rejected_indexes),
        "errors": errors,
    }
    if not batch.rows:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        answer["error"] = f"no {noun} could be stored: {noun} {first['index']}: " + (
            f"{first['field']}: {first['error']}{more}" if first["field"] else first["error"] + more
        )
        answer["detail"] = [{"field": e["field"], "error": e["error"]} for e in errors[:100]]
    return answer


def dead_letters(request: IngestRequest, batch: Batch, raw: list[Any], noun: str) -> bytes:
    """A dead-letter row per rejected item (`raw[i]` as received), with all its reasons."""
    reasons: dict[int, list[str]] = {}
    for r in batch.rejections:
        reasons.setdefault(r.index, []).append(f"{r.field or noun}: {r.error}")
    rows = [
        rejected_row(
            request.project, request.source, request.received_ms, "; ".join(reasons[i]), raw[i],
            request.redaction,
        )
        for i in batch.rejected_indexes
    ]  # fmt: skip
    return records.encode(records.REJECTED, [], rows)


def prepare_otlp(normalizer: Normalizer, request: IngestRequest) -> Prepared:
    """An OTLP trace export: LLM-call spans become events, the rest trace spans. The answer
    is an ExportTraceServiceResponse (partial success when some spans were rejected)."""
    project, received_ms = request.project, request.received_ms
    try:
        data = decompress(request.body, request.content_encoding)
        if media_type(request.content_type) in PROTOBUF_TYPES:
            decoded = decode_protobuf(data)
        else:
            decoded = decode_json(data)
    except BodyError as exc:
        return unreadable(request, exc, keep=False)
    mapped = map_spans(decoded.spans)
    # (field at fault, with the span's place in the request; reason; the span as received)
    problems: list[tuple[str, str, Any]] = [*decoded.rejections, *mapped.rejections]

    batch = normalizer.batch(mapped.events, project, received_ms, request.prices)
    if request.redaction:
        for row in batch.rows:
            request.redaction.event(row, *_REDACTED_EVENT)
    for r in batch.rejections:
        place = mapped.event_places[r.index]
        where = f"{place}.{r.field}" if r.field else place
        problems.append((where, r.error, mapped.events[r.index]))
    span_rows, span_keys = [], []
    for row, place in zip(mapped.spans, mapped.span_places, strict=True):
        ts_ms = int(row["ts"] * 1000)
        problem = normalizer.ts_problem(ts_ms, received_ms)
        if problem:
            problems.append((f"{place}.startTimeUnixNano", problem, row))
            continue
        row["project"], row["received_at"] = project, received_ms / 1000
        if request.redaction:
            request.redaction.event(row, *_REDACTED_SPAN)
        span_rows.append(row)
        span_keys.append((project, row["event_id"], ts_ms, False))

    accepted = len(batch.rows) + len(span_rows)
    out = Prepared(200, {}, accepted=accepted)
    if problems:
        reasons = [f"{where}: {error}" for where, error, _ in problems]
        message = "; ".join(reasons[:20]) + (
            f" (and {len(reasons) - 20} more)" if len(reasons) > 20 else ""
        )
        # Metric labels name the schema field (a span's place in a request is unbounded).
        out.rejected_fields.update(metric_reason(r.field) for r in batch.rejections)
        out.rejected_fields["span"] += len(problems) - len(batch.rejections)
        out.payloads.append(_dead_letters(request, problems))
        if accepted == 0:
            out.status = 400
            out.answer = {
                "error": f"no span could be stored: {message}",
                "detail": [{"field": where, "error": error} for where, error, _ in problems],
            }
        else:
            # A resource or scope rejected whole counts as one: its spans could not be read.
            rejected = len(decoded.spans) - accepted + len(decoded.rejections)
            out.answer = {"partialSuccess": {"rejectedSpans": rejected, "errorMessage": message}}
    if batch.rows:
        out.payloads.append(_events_payload(project, request.source, batch))
    if span_rows:
        out.payloads.append(records.encode(records.SPANS, span_keys, span_rows))
    return out


def unreadable(request: IngestRequest, exc: BodyError, keep: bool) -> Prepared:
    """The answer to a body that cannot be read at all. With `keep`, unreadable JSON is
    kept as one dead letter: nothing is silently dropped."""
    out = Prepared(exc.status, {}, error=(exc.status, exc.field, exc.message))
    out.rejected_fields["body"] = 1
    if keep and exc.status == 400 and exc.field == "body":
        raw = request.body.decode("utf-8", "replace")
        row = rejected_row(request.project, request.source, request.received_ms, exc.message,
                           raw, request.redaction)  # fmt: skip
        out.payloads.append(records.encode(records.REJECTED, [], [row]))
    return out


def _events_payload(project: str, source: str, batch: Batch) -> bytes:
    for row in batch.rows:
        row["source"] = source
    keys = [(project, eid, ts, defaulted) for eid, ts, defaulted in batch.keys]
    return records.encode(records.EVENTS, keys, batch.rows, [_call(row) for row in batch.rows])


def _call(row: dict[str, Any]) -> Call:
    """What Prometheus's GenAI metrics count of a stored call."""
    return (
        row["model_id"], row.get("provider") or "", row["operation"], row.get("error_type") or "",
        row["latency_ms"], row.get("ttft_ms"), row.get("tokens_in") or 0,
        row.get("tokens_out") or 0, row.get("cost_usd"),
    )  # fmt: skip


def _dead_letters(request: IngestRequest, problems: list[tuple[str, str, Any]]) -> bytes:
    """One dead-letter row per rejected span, with all its reasons. Spans are told apart by
    identity: each one's raw form is a dict of its own."""
    by_item: dict[int, tuple[Any, list[str]]] = {}
    for where, error, raw in problems:
        by_item.setdefault(id(raw), (raw, []))[1].append(f"{where}: {error}")
    rows = [
        rejected_row(
            request.project,
            request.source,
            request.received_ms,
            "; ".join(reasons),
            raw,
            request.redaction,
        )
        for raw, reasons in by_item.values()
    ]
    return records.encode(records.REJECTED, [], rows)


def metric_reason(field: str) -> str:
    """The schema field at fault, for a metric label: never a client's own key (a metadata
    key or an unknown field) that would let clients create label values without bound."""
    top = field.split(".", 1)[0]
    return top if top in EVENT_FIELDS else "event"


def rejected_row(
    project: str,
    source: str,
    received_ms: int,
    reason: str,
    raw: Any,
    redaction: RedactionPolicy | None = None,
) -> dict[str, Any]:
    text = raw if isinstance(raw, str) else json_text(raw)
    if redaction:
        text, reason = redaction.redactor().text(text), redaction.redactor().text(reason)
    return {
        "project": project,
        "received_at": received_ms / 1000,
        "source": source,
        "reason": reason,
        "raw": text[:MAX_RAW_KEPT],
    }

"""The JSON query API: every read takes from/to, dimension filters, and the key's project."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from llmpulse.api.auth import Reader
from llmpulse.api.errors import ApiError, FieldError, error_responses
from llmpulse.api.formats import (
    FILE_CONTENT,
    FORMATS,
    ExportFormat,
    arrow_chunks,
    disposition,
    table_file,
)
from llmpulse.api.openapi import answers
from llmpulse.api.pagination import decode_cursor, encode_cursor
from llmpulse.query import answers as a
from llmpulse.query import events, export, metrics, scores, traces
from llmpulse.query.filters import split_dimensions
from llmpulse.query.params import GroupBy, Scoped, Store
from llmpulse.store.engine import Param

router = APIRouter(prefix="/v1", tags=["query"], responses=error_responses(400, 401, 403, 422, 503))
Limit = Annotated[int, Query(ge=1, le=1000)]
Format = Annotated[ExportFormat, Query(alias="format", description=", ".join(FORMATS))]
_EXPORTED: dict[int | str, dict[str, Any]] = {
    200: {"description": "The rows, streamed", "content": FILE_CONTENT}
}
AsFile = Annotated[
    ExportFormat | None,
    Query(alias="format", description="the rows as a file: " + ", ".join(FORMATS)),
]


@router.get(
    "/metrics/summary",
    summary="Requests, errors, latency, TTFT, tokens, cost by group",
    **answers(a.Summary, tabular=True),
)
async def summary(
    s: Scoped,
    store: Store,
    group_by: GroupBy = None,
    metric: Annotated[
        str | None, Query(description="also a score of the calls: score:NAME (its mean, shares)")
    ] = None,
    fmt: AsFile = None,
) -> dict[str, Any] | Response:
    dims = split_dimensions(group_by, "group_by")
    score = scores.score_metric(metric)
    answer = await run_in_threadpool(metrics.summary, store, s, dims)
    if score is not None:
        found = await run_in_threadpool(scores.by_group, store, s, score, dims)
        for group in answer["groups"]:
            group["score"] = found.get(tuple(group["key"][d] or "" for d in dims))
    if fmt is not None:
        return table_file(answer["groups"], fmt, f"summary-{s.project}")
    return answer


@router.get(
    "/metrics/timeseries",
    summary="One metric over time, empty buckets included",
    **answers(a.Timeseries, tabular=True),
)
async def timeseries(
    s: Scoped,
    store: Store,
    metric: Annotated[str, Query(description=", ".join(metrics.TIMESERIES_METRICS))] = "requests",
    interval: Annotated[str, Query(description=", ".join(metrics.INTERVALS))] = "5m",
    group_by: GroupBy = None,
    fmt: AsFile = None,
) -> dict[str, Any] | Response:
    dims = split_dimensions(group_by, "group_by")
    answer = await run_in_threadpool(metrics.timeseries, store, s, metric, interval, dims)
    if fmt is None:
        return answer
    rows = [{"key": series["key"], "t": p["t"], metric: p["value"]}
            for series in answer["series"] for p in series["points"]]  # fmt: skip
    return table_file(rows, fmt, f"timeseries-{metric}-{s.project}")


@router.get(
    "/errors/top",
    summary="Error types by model with count, share and latest example",
    **answers(a.TopErrors),
)
async def top_errors(s: Scoped, store: Store, limit: Limit = 10) -> dict[str, Any]:
    return await run_in_threadpool(events.top_errors, store, s, limit)


@router.get(
    "/requests",
    summary="Newest events first, with every field; cursor pagination",
    **answers(a.Requests),
)
async def list_requests(
    s: Scoped,
    store: Store,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    q: Annotated[
        str | None, Query(description="an event, request, trace, session or user id")
    ] = None,
) -> dict[str, Any]:
    after = None
    if cursor:
        ts_ms, event_id = decode_cursor(cursor, 2)
        if not isinstance(ts_ms, int) or not isinstance(event_id, str):
            raise FieldError(400, "cursor", "not a cursor returned by this API")
        after = (ts_ms, event_id)
    rows, last = await run_in_threadpool(events.list_requests, store, s, limit, after, q)
    return {"requests": rows, "next_cursor": encode_cursor(list(last)) if last else None}


async def stored_event(event_id: str, store: Store, reader: Reader) -> dict[str, Any]:
    """The event named in the path, or 404."""
    found = await run_in_threadpool(events.get_event, store, reader.project, event_id)
    if found is None:
        raise ApiError(404, f"no event {event_id!r} in this project")
    return found


Event = Annotated[dict[str, Any], Depends(stored_event)]


@router.get(
    "/requests/{event_id}",
    summary="One event with every field, and its scores",
    **answers(a.ScoredEvent, 404),
)
async def get_request(event: Event, store: Store, reader: Reader) -> dict[str, Any]:
    found = await run_in_threadpool(
        scores.of_event, store, reader.project, event["event_id"], event["trace_id"]
    )
    return {**event, "scores": found}


@router.get(
    "/requests/{event_id}/related",
    summary="Other calls of the event's trace and session",
    **answers(a.Related, 404),
)
async def related_requests(event: Event, store: Store, reader: Reader) -> dict[str, Any]:
    return await run_in_threadpool(events.related, store, reader.project, event)


@router.get(
    "/sessions",
    summary="Sessions: start, duration, calls, errors, cost; newest first",
    **answers(a.Sessions),
)
async def sessions(s: Scoped, store: Store, limit: Limit = 100) -> dict[str, Any]:
    return await run_in_threadpool(events.sessions, store, s, limit)


@router.get(
    "/models/compare",
    summary="Latency histograms and a tokens-vs-latency sample per model (pick with model_id)",
    **answers(a.ModelComparison),
)
async def compare_models(s: Scoped, store: Store) -> dict[str, Any]:
    return await run_in_threadpool(events.compare_models, store, s)


@router.get(
    "/rejected",
    summary="Events that failed validation, newest first, with the reason",
    **answers(a.RejectedList),
)
async def rejected(s: Scoped, store: Store, limit: Limit = 100) -> dict[str, Any]:
    return await run_in_threadpool(events.rejected, store, s, limit)


@router.get(
    "/pricing/unpriced",
    summary="Models with no known price, with event counts",
    **answers(a.UnpricedModels),
)
async def unpriced(s: Scoped, store: Store) -> dict[str, Any]:
    return await run_in_threadpool(events.unpriced_models, store, s)


@router.get(
    "/traces/{trace_id}",
    summary="A whole trace: LLM calls and other spans, oldest first",
    **answers(a.Trace, 404),
)
async def get_trace(trace_id: str, store: Store, reader: Reader) -> dict[str, Any]:
    found = await run_in_threadpool(traces.get_trace, store, reader.project, trace_id)
    if found is None:
        raise ApiError(404, f"no trace {trace_id!r} in this project")
    return found


def _streamed(
    store: Store, pages: Iterator[tuple[str, dict[str, Param]]], fmt: ExportFormat, name: str
) -> StreamingResponse:
    media, _, store_format = FORMATS[fmt]
    body = (
        export.formatted_pages(store, pages, store_format)
        if store_format
        else arrow_chunks(export.arrow_pages(store, pages), fmt)
    )
    # A sync iterator: Starlette reads it in a worker thread, a page at a time.
    return StreamingResponse(body, media_type=media, headers=disposition(name, fmt))


@router.get(
    "/export/events",
    summary="Every call in range and filters, streamed as CSV, NDJSON, Parquet or Arrow",
    response_class=StreamingResponse,
    responses=_EXPORTED,
)
async def export_events(
    s: Scoped,
    store: Store,
    fmt: Format = "csv",
    columns: Annotated[
        str | None, Query(description="comma-separated columns; default: all")
    ] = None,
) -> StreamingResponse:
    chosen = await run_in_threadpool(export.chosen_columns, store, columns)
    return _streamed(store, export.event_pages(store, s, chosen), fmt, f"events-{s.project}")


@router.get(
    "/export/rejected",
    summary="Rejected events (dead letters) with their reasons, streamed",
    response_class=StreamingResponse,
    responses=_EXPORTED,
)
async def export_rejected(s: Scoped, store: Store, fmt: Format = "csv") -> StreamingResponse:
    pages = await run_in_threadpool(export.offset_pages, store, s, "rejected")
    return _streamed(store, iter(pages), fmt, f"rejected-{s.project}")


@router.get(
    "/export/scores",
    summary="Scores (the newest of each score id) in range, streamed",
    response_class=StreamingResponse,
    responses=_EXPORTED,
)
async def export_scores(s: Scoped, store: Store, fmt: Format = "csv") -> StreamingResponse:
    pages = await run_in_threadpool(export.offset_pages, store, s, "scores")
    return _streamed(store, iter(pages), fmt, f"scores-{s.project}")

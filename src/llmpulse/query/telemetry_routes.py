"""The read API of application telemetry: log search and counts, custom metrics. They come
in through POST /v1/logs and /v1/metrics (ingest/routes.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from llmpulse.api.errors import error_responses
from llmpulse.api.openapi import answers
from llmpulse.api.pagination import decode_cursor, encode_cursor
from llmpulse.query import answers as a
from llmpulse.query import custom_metrics, logs
from llmpulse.query.metrics import INTERVALS
from llmpulse.query.params import Store, Windowed

router = APIRouter(prefix="/v1", tags=["logs and custom metrics"],
                   responses=error_responses(400, 401, 403))  # fmt: skip
Interval = Annotated[str, Query(description=", ".join(INTERVALS))]
AGG_HELP = "; ".join(f"{t}: {', '.join(aggs)}" for t, aggs in custom_metrics.AGGREGATIONS.items())


def log_filter(
    s: Windowed,
    level: Annotated[list[str], Query(description="DEBUG, INFO, WARNING, ERROR, CRITICAL")] = [],  # noqa: B006
    service: Annotated[list[str], Query()] = [],  # noqa: B006
    q: Annotated[str | None, Query(description="text in the message (any case)")] = None,
    trace_id: Annotated[str | None, Query(description="32 hex digits")] = None,
) -> logs.LogFilter:
    return logs.LogFilter(s, level, service, q or None, trace_id or None)


Logs = Annotated[logs.LogFilter, Depends(log_filter)]


@router.get("/logs", summary="Search log records, newest first; cursor pagination",
            **answers(a.Logs))  # fmt: skip
async def search_logs(
    f: Logs,
    store: Store,
    limit: Annotated[int, Query(ge=1, le=logs.MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    after = None
    if cursor:
        ts_us, event_id = decode_cursor(cursor, 2)
        after = (int(ts_us), str(event_id))
    found = await run_in_threadpool(logs.search, store, f, limit, after)
    position = found.pop("next")
    return {**found, "next_cursor": encode_cursor(position) if position else None}


@router.get("/logs/counts", summary="Records per level per interval",
            **answers(a.LogCounts))  # fmt: skip
async def log_counts(f: Logs, store: Store, interval: Interval = "5m") -> dict[str, Any]:
    return await run_in_threadpool(logs.counts, store, f, interval)


@router.get("/logs/facets", summary="The range's levels and services with their counts",
            **answers(a.LogFacets))  # fmt: skip
async def log_facets(s: Windowed, store: Store) -> dict[str, Any]:
    return await run_in_threadpool(logs.facets, store, s)


@router.get("/metrics/custom", summary="Custom metrics with points in the range",
            **answers(a.CustomMetrics))  # fmt: skip
async def metric_catalog(s: Windowed, store: Store) -> dict[str, Any]:
    return await run_in_threadpool(custom_metrics.catalog, store, s)


@router.get("/metrics/custom/series", summary="One custom metric over time, aggregated per "
            "interval, by a tag", **answers(a.CustomMetricSeries, 404))  # fmt: skip
async def metric_series(
    s: Windowed,
    store: Store,
    name: Annotated[str, Query(min_length=1, max_length=200)],
    agg: Annotated[str, Query(description=AGG_HELP)] = "avg",
    interval: Interval = "5m",
    tag: Annotated[list[str], Query(description="key:value (repeat for more)")] = [],  # noqa: B006
    group_by: Annotated[str | None, Query(description="a tag name")] = None,
) -> dict[str, Any]:
    tags = custom_metrics.parse_tags(tag)
    return await run_in_threadpool(
        custom_metrics.series, store, s, name, agg, interval, tags, group_by
    )

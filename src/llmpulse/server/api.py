"""The JSON query API: every read takes from/to, dimension filters, and the key's project."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from llmpulse.events.taxonomy import DIMENSIONS
from llmpulse.query import events, metrics, traces
from llmpulse.query.filters import QueryError, Scope, split_dimensions
from llmpulse.server.auth import current_project
from llmpulse.server.context import Platform, platform
from llmpulse.server.errors import ApiError

router = APIRouter(prefix="/v1", tags=["query"])

From = Annotated[
    str | None, Query(alias="from", description="ISO 8601 or relative (-1h, -7d); default -24h")
]
To = Annotated[str | None, Query(description="ISO 8601 or relative; default now")]
GroupBy = Annotated[
    str | None, Query(description=f"comma-separated dimensions: {', '.join(DIMENSIONS)}")
]


def scope(
    request: Request,
    start: From = None,
    to: To = None,
    project: str = Depends(current_project),
) -> Scope:
    """The project, time range and dimension filters (`?model_id=a&model_id=b&status=error`)."""
    known = set(DIMENSIONS) | _route_params(request)
    for name in request.query_params:
        if name not in known:
            raise QueryError(name, "unknown query parameter")
    filters = {d: request.query_params.getlist(d) for d in DIMENSIONS}
    return Scope.build(project, start, to, filters)


def _route_params(request: Request) -> set[str]:
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    names: set[str] = set()
    stack = [dependant] if dependant else []
    while stack:
        dep = stack.pop()
        names.update(p.alias for p in dep.query_params)
        stack.extend(dep.dependencies)
    return names


Scoped = Annotated[Scope, Depends(scope)]
Ctx = Annotated[Platform, Depends(platform)]


@router.get("/metrics/summary", summary="Requests, errors, latency, TTFT, tokens, cost by group")
async def summary(s: Scoped, ctx: Ctx, group_by: GroupBy = None) -> dict[str, Any]:
    dims = split_dimensions(group_by, "group_by")
    return await run_in_threadpool(metrics.summary, ctx.engine, s, dims)


@router.get("/metrics/timeseries", summary="One metric over time, empty buckets included")
async def timeseries(
    s: Scoped,
    ctx: Ctx,
    metric: Annotated[str, Query(description=", ".join(metrics.TIMESERIES_METRICS))] = "requests",
    interval: Annotated[str, Query(description=", ".join(metrics.INTERVALS))] = "5m",
    group_by: GroupBy = None,
) -> dict[str, Any]:
    dims = split_dimensions(group_by, "group_by")
    return await run_in_threadpool(metrics.timeseries, ctx.engine, s, metric, interval, dims)


@router.get("/errors/top", summary="Error types by model with count, share and latest example")
async def top_errors(
    s: Scoped, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=1000)] = 10
) -> dict[str, Any]:
    return await run_in_threadpool(events.top_errors, ctx.engine, s, limit)


@router.get("/requests", summary="Newest events first, with every field; cursor pagination")
async def list_requests(
    s: Scoped,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    q: Annotated[
        str | None, Query(description="an event, request, trace, session or user id")
    ] = None,
) -> dict[str, Any]:
    return await run_in_threadpool(events.list_requests, ctx.engine, s, limit, cursor, q)


async def stored_event(
    event_id: str, ctx: Ctx, project: str = Depends(current_project)
) -> dict[str, Any]:
    """The event named in the path, or 404."""
    found = await run_in_threadpool(events.get_event, ctx.engine, project, event_id)
    if found is None:
        raise ApiError(404, f"no event {event_id!r} in this project")
    return found


Event = Annotated[dict[str, Any], Depends(stored_event)]


@router.get("/requests/{event_id}", summary="One event with every field")
async def get_request(event: Event) -> dict[str, Any]:
    return event


@router.get("/requests/{event_id}/related", summary="Other calls of the event's trace and session")
async def related_requests(
    event: Event, ctx: Ctx, project: str = Depends(current_project)
) -> dict[str, Any]:
    return await run_in_threadpool(events.related, ctx.engine, project, event)


@router.get("/sessions", summary="Sessions: start, duration, calls, errors, cost; newest first")
async def sessions(
    s: Scoped, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    return await run_in_threadpool(events.sessions, ctx.engine, s, limit)


@router.get(
    "/models/compare",
    summary="Latency histograms and a tokens-vs-latency sample per model (pick with model_id)",
)
async def compare_models(s: Scoped, ctx: Ctx) -> dict[str, Any]:
    return await run_in_threadpool(events.compare_models, ctx.engine, s)


@router.get("/rejected", summary="Events that failed validation, newest first, with the reason")
async def rejected(
    s: Scoped, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    return await run_in_threadpool(events.rejected, ctx.engine, s, limit)


@router.get("/pricing/unpriced", summary="Models with no known price, with event counts")
async def unpriced(s: Scoped, ctx: Ctx) -> dict[str, Any]:
    return await run_in_threadpool(events.unpriced_models, ctx.engine, s)


@router.get("/traces/{trace_id}", summary="A whole trace: LLM calls and other spans, oldest first")
async def get_trace(
    trace_id: str, ctx: Ctx, project: str = Depends(current_project)
) -> dict[str, Any]:
    found = await run_in_threadpool(traces.get_trace, ctx.engine, project, trace_id)
    if found is None:
        raise ApiError(404, f"no trace {trace_id!r} in this project")
    return found

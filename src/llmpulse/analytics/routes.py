"""The analytics API: experiments (this file's first half) and product analytics."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from llmpulse.analytics import answers as a
from llmpulse.analytics import experiments, product
from llmpulse.analytics.options import (
    GUARDABLE,
    MIN_EVENTS,
    MIN_USERS,
    TOLERANCE,
    Method,
    Options,
    Unit,
)
from llmpulse.analytics.product import Period
from llmpulse.api.errors import error_responses
from llmpulse.api.openapi import answers
from llmpulse.query.filters import QueryError
from llmpulse.query.params import Scoped, Store

router = APIRouter(prefix="/v1", tags=["analytics"], responses=error_responses(400, 401, 403, 422))


def _weights(value: str | None, param: str) -> dict[str, float] | None:
    """`A:1,B:3` (or bare names, weight 1) as {name: weight}."""
    if not value:
        return None
    out: dict[str, float] = {}
    for part in value.split(","):
        name, _, weight = part.strip().partition(":")
        try:
            out[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise QueryError(param, f"{weight!r} is not a number (give NAME:WEIGHT,...)") from None
        if not name.strip() or not 0 <= out[name.strip()] < float("inf"):
            raise QueryError(param, f"{part!r}: give NAME:WEIGHT with a weight of 0 or more")
    return out


def options(
    control: Annotated[
        str | None, Query(description="the control variant; default the first")
    ] = None,
    method: Annotated[
        Method, Query(description="sequential: always-valid (default); fixed: classical")
    ] = "sequential",
    unit: Annotated[
        Unit,
        Query(
            description="the unit of randomisation: event, user, or auto (user when every "
            "call has a user_id and no user is in two variants)"
        ),
    ] = "auto",
    confidence: Annotated[float, Query(ge=0.8, le=0.999)] = 0.95,
    split: Annotated[
        str | None, Query(description="planned shares for the SRM check: A:50,B:50; default equal")
    ] = None,
    guardrails: Annotated[
        str | None,
        Query(description="metrics judged, with weights: error_rate:2,latency_p95:1"),
    ] = None,
    tolerance: Annotated[
        float, Query(gt=0, le=10, description="how much worse (relative) a guardrail may be")
    ] = TOLERANCE,
    min_events: Annotated[int, Query(ge=1)] = MIN_EVENTS,
    min_users: Annotated[int, Query(ge=0)] = MIN_USERS,
) -> Options:
    shares = _weights(split, "split")
    if shares is not None and not any(shares.values()):
        raise QueryError("split", "give at least one variant a share above 0", 422)
    judged = _weights(guardrails, "guardrails")
    if judged is not None:
        for metric in judged:
            if metric not in GUARDABLE and not metric.startswith("score:"):
                known = ", ".join(sorted(GUARDABLE))
                raise QueryError(
                    "guardrails", f"unknown metric {metric!r}; one of {known}, score:NAME", 422
                )
        if not any(judged.values()):
            raise QueryError("guardrails", "give at least one metric a weight above 0", 422)
    return Options(
        control, method, unit, confidence, shares, judged, tolerance, min_events, min_users
    )


Chosen = Annotated[Options, Depends(options)]


@router.get(
    "/experiments",
    summary="Experiments seen in the range: variants, events, users, first and last seen",
    **answers(a.Experiments),
)
async def list_experiments(s: Scoped, store: Store) -> dict[str, Any]:
    return await run_in_threadpool(experiments.list_experiments, store, s)


@router.get(
    "/experiments/{name}",
    summary="Every variant against the control: values, differences, CIs, p-values, verdict",
    **answers(a.ExperimentReport, 404),
)
async def experiment_report(name: str, s: Scoped, store: Store, chosen: Chosen) -> dict[str, Any]:
    return await run_in_threadpool(experiments.report, store, s, name, chosen)


@router.get(
    "/experiments/{name}/timeline",
    summary="The verdict as it stood at each step of the range (for a canary's rollout)",
    **answers(a.Timeline, 404),
)
async def experiment_timeline(name: str, s: Scoped, store: Store, chosen: Chosen) -> dict[str, Any]:
    return await run_in_threadpool(experiments.timeline, store, s, name, chosen)


# -- product analytics --------------------------------------------------------------------------

PeriodParam = Annotated[Period, Query(description="day or week (weeks start on Monday)")]
Segment = Annotated[str | None, Query(description="one dimension, or experiment (name:variant)")]


@router.get(
    "/analytics/retention",
    summary="Cohorts by first-seen period: users active again k periods later; D1/D7/D30",
    **answers(a.Retention),
)
async def retention(
    s: Scoped,
    store: Store,
    period: PeriodParam = "day",
    cohort_by: Annotated[
        Literal["first_seen"], Query(description="what a cohort is: the users first seen")
    ] = "first_seen",
    group_by: Segment = None,
) -> dict[str, Any]:
    return await run_in_threadpool(product.retention, store, s, period, group_by)


@router.get(
    "/analytics/funnel",
    summary="Users reaching each step in order within the window; conversion, median times",
    **answers(a.Funnel),
)
async def funnel(
    s: Scoped,
    store: Store,
    steps: Annotated[
        str, Query(description="FIELD:VALUE steps in order: feature:search,feature:export")
    ],
    window: Annotated[
        str, Query(description="from the first step to the last: 30m, 1h, 7d")
    ] = "1h",
) -> dict[str, Any]:
    chosen, window_s = product.parse_steps(steps), product.parse_window(window)
    return await run_in_threadpool(product.funnel, store, s, chosen, window_s)


@router.get(
    "/analytics/sessions",
    summary="Per period: sessions, their length, errors; active, new, returning, churned users",
    **answers(a.Sessions),
)
async def sessions(
    s: Scoped, store: Store, period: PeriodParam = "day", group_by: Segment = None
) -> dict[str, Any]:
    return await run_in_threadpool(product.sessions, store, s, period, group_by)


@router.get(
    "/analytics/adoption",
    summary="Per feature and period: calls, users, new and returning users",
    **answers(a.Adoption),
)
async def adoption(s: Scoped, store: Store, period: PeriodParam = "day") -> dict[str, Any]:
    return await run_in_threadpool(product.adoption, store, s, period)

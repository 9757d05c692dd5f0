"""The cost API: dated price overrides and re-costing (`/v1/pricing/...`), recommendations,
routing and caching advice, budgets, forecasts and capacity (`/v1/costs/...`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from llmpulse.api.auth import Admin, Reader
from llmpulse.api.bodies import Json, checked
from llmpulse.api.errors import ApiError, error_responses
from llmpulse.api.openapi import answers
from llmpulse.api.services import Service
from llmpulse.costs import answers as a
from llmpulse.costs import budgets, caching, capacity, overrides, recommend, routing, spend
from llmpulse.costs.prices_now import Pricing
from llmpulse.costs.recost import Recoster
from llmpulse.query import durations
from llmpulse.query.filters import QueryError
from llmpulse.query.params import MonthScoped, QuarterScoped, Store

RECOST: Service[Recoster] = Service("recost")
Costing = Annotated[Recoster, Depends(RECOST)]

router = APIRouter(prefix="/v1", tags=["costs"], responses=error_responses(400, 401, 403, 422))


@router.put(
    "/pricing/overrides",
    summary="Price a model from a date on (USD per million tokens); stored calls from then "
    "on are re-costed",
    **answers(a.OverrideSaved),
)
async def put_override(body: Json, costing: Costing, admin: Admin) -> dict[str, Any]:
    given: overrides.OverrideBody = checked(overrides.OverrideBody, body)
    saved, warnings = await run_in_threadpool(
        overrides.save, costing.engine, costing.registry, costing.book, admin.project, given
    )
    job = costing.start(admin.project, saved.valid_from_ms)
    return {"override": overrides.described(saved), "warnings": warnings, "recost": job.public()}


@router.get("/pricing/overrides", summary="The project's price overrides", **answers(a.Overrides))
async def list_overrides(costing: Costing, reader: Reader) -> dict[str, Any]:
    found = await run_in_threadpool(overrides.listed, costing.engine, reader.project)
    return {"overrides": [overrides.described(o) for o in found]}


@router.delete(
    "/pricing/overrides/{override_id}",
    summary="Remove a price override; its calls are re-costed",
    **answers(a.OverrideDeleted, 404),
)
async def delete_override(override_id: str, costing: Costing, admin: Admin) -> dict[str, Any]:
    listed = await run_in_threadpool(overrides.listed, costing.engine, admin.project)
    found = {o.id: o for o in listed}
    if override_id not in found:
        raise ApiError(404, f"no price override {override_id!r}")
    await run_in_threadpool(
        overrides.delete, costing.engine, costing.registry, admin.project, override_id
    )
    job = costing.start(admin.project, found[override_id].valid_from_ms)
    return {"deleted": override_id, "recost": job.public()}


class RecostBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: datetime = Field(alias="from", description="ISO 8601")
    to: datetime | None = Field(None, description="default: now and later")


@router.post(
    "/pricing/recost",
    summary="Re-cost the project's stored calls in a range at today's prices (a job)",
    **answers(a.RecostJob, status=202),
)
async def recost(body: Json, costing: Costing, admin: Admin) -> dict[str, Any]:
    given: RecostBody = checked(RecostBody, body)
    from_ms = overrides.epoch_ms(given.from_)
    to_ms = overrides.epoch_ms(given.to) if given.to else None
    if to_ms is not None and to_ms <= from_ms:
        raise ApiError(422, "invalid recostbody: to: must be after from",
                       [{"field": "to", "error": "must be after from"}])  # fmt: skip
    return costing.start(admin.project, from_ms, to_ms).public()


@router.get(
    "/pricing/recost/{job_id}",
    summary="A re-costing job's state and progress",
    **answers(a.RecostJob, 404),
)
async def recost_status(job_id: str, costing: Costing, reader: Reader) -> dict[str, Any]:
    job = await run_in_threadpool(costing.status, reader.project, job_id)
    if job is None:
        raise ApiError(404, f"no re-costing job {job_id!r}")
    return job.public()


def _pricing(costing: Recoster) -> Pricing:
    return Pricing(costing.book, costing.registry)


def recommend_options(
    by: Annotated[recommend.By, Query(description="group calls by")] = "feature",
    candidates: Annotated[
        str | None, Query(description="comma-separated models; default: those seen")
    ] = None,
    min_calls: Annotated[int, Query(ge=2, le=1_000_000)] = recommend.Options.min_calls,
    error_margin: Annotated[
        float, Query(ge=0, le=1, description="absolute error-rate increase allowed")
    ] = recommend.Options.error_margin,
    latency_tolerance: Annotated[
        float, Query(ge=0, le=10, description="relative p95 increase allowed")
    ] = recommend.Options.latency_tolerance,
    score: Annotated[str | None, Query(description="a numeric or boolean score to guard")] = None,
    score_margin: Annotated[float, Query(ge=0)] = recommend.Options.score_margin,
    confidence: Annotated[float, Query(ge=0.5, le=0.999)] = recommend.Options.confidence,
) -> recommend.Options:
    chosen = tuple(c.strip() for c in (candidates or "").split(",") if c.strip())
    return recommend.Options(by, chosen, min_calls, error_margin, latency_tolerance, score,
                             score_margin, confidence)  # fmt: skip


@router.get(
    "/costs/recommendations",
    summary="Cheaper models for each feature's calls, judged on the project's own traffic",
    **answers(a.Recommendations),
)
async def recommendations(
    s: MonthScoped,
    store: Store,
    costing: Costing,
    options: Annotated[recommend.Options, Depends(recommend_options)],
) -> dict[str, Any]:
    pricing = _pricing(costing)
    return await run_in_threadpool(recommend.recommendations, store, s, pricing, options)


def _days(value: str, param: str, most: int) -> int:
    try:
        seconds = durations.seconds(value)
    except ValueError as exc:
        raise QueryError(param, str(exc)) from None
    if seconds % 86400 or not 1 <= seconds // 86400 <= most:
        raise QueryError(param, f"must be whole days, 1d to {most}d", 422)
    return seconds // 86400


@router.get(
    "/costs/forecast",
    summary="Daily spend forecast with 80% and 95% prediction intervals, and the month's "
    "projected spend (Holt-Winters with a weekly season)",
    **answers(a.SpendForecast),
)
async def forecast(
    s: QuarterScoped,
    store: Store,
    horizon: Annotated[str, Query(description="days ahead: 30d (at most 365d)")] = "30d",
    group_by: Annotated[
        budgets.Dimension | None, Query(description="one forecast per value")
    ] = None,
) -> dict[str, Any]:
    """The history is the whole days from `from` to `to`; the forecast starts on `to`'s
    day (today by default, which is forecast whole, not counted half)."""
    ahead = _days(horizon, "horizon", spend.MAX_HORIZON_DAYS)
    scope, today = spend.whole_days(s)
    if (today - scope.start.date()).days > spend.MAX_HISTORY_DAYS:
        raise QueryError("from", f"at most {spend.MAX_HISTORY_DAYS} days of history", 422)
    return await run_in_threadpool(spend.spend_forecast, store, scope, group_by, ahead, today)


@router.put(
    "/costs/budgets/{name}",
    summary="Set a budget: an amount per month or day for the project, a feature, a model "
    "or a user",
    **answers(a.Budget),
)
async def put_budget(name: str, body: Json, store: Store, admin: Admin) -> dict[str, Any]:
    given: budgets.BudgetBody = checked(budgets.BudgetBody, body)
    saved = await run_in_threadpool(budgets.save, store, admin.project, name, given)
    now = datetime.now(UTC)
    return await run_in_threadpool(budgets.status, store, admin.project, saved, now)


@router.get(
    "/costs/budgets",
    summary="Every budget with its spend so far, projection and exhaustion date",
    **answers(a.Budgets),
)
async def list_budgets(store: Store, reader: Reader) -> dict[str, Any]:
    def statuses() -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        found = budgets.listed(store, reader.project)
        return [budgets.status(store, reader.project, b, now) for b in found]

    return {"budgets": await run_in_threadpool(statuses)}


@router.delete("/costs/budgets/{name}", summary="Remove a budget",
               **answers(a.Deleted, 404))  # fmt: skip
async def delete_budget(name: str, store: Store, admin: Admin) -> dict[str, Any]:
    if not await run_in_threadpool(budgets.delete, store, admin.project, name):
        raise ApiError(404, f"no budget {name!r}")
    return {"deleted": name}


def routing_options(
    by: Annotated[recommend.By, Query(description="group calls by")] = "feature",
    window: Annotated[str, Query(description="the router's look-back: 5m .. 1d")] = "1h",
    thresholds: Annotated[
        str | None, Query(description="comma-separated error rates to replay, e.g. 0.05,0.2")
    ] = None,
    min_calls: Annotated[int, Query(ge=1, le=1_000_000)] = routing.Options.min_calls,
) -> routing.Options:
    try:
        window_s = durations.seconds(window)
    except ValueError as exc:
        raise QueryError("window", str(exc)) from None
    if not 300 <= window_s <= 86400:
        raise QueryError("window", "must be 5m to 1d")
    chosen = routing.THRESHOLDS
    if thresholds:
        try:
            chosen = tuple(float(t) for t in thresholds.split(","))
        except ValueError:
            raise QueryError("thresholds", "comma-separated numbers, e.g. 0.05,0.2") from None
        if not all(0 <= t < 1 for t in chosen):
            raise QueryError("thresholds", "each an error rate from 0 to below 1")
    return routing.Options(by, window_s, chosen, min_calls)


@router.get(
    "/costs/routing",
    summary="When each provider fails (by hour of day), and fallback rules replayed on the "
    "stored calls: errors avoided and cost delta",
    **answers(a.Routing),
)
async def routing_advice(
    s: MonthScoped,
    store: Store,
    costing: Costing,
    options: Annotated[routing.Options, Depends(routing_options)],
) -> dict[str, Any]:
    return await run_in_threadpool(routing.advice, store, s, _pricing(costing), options)


@router.get(
    "/costs/caching",
    summary="Calls sharing a leading prompt, and what a prompt cache would save on them",
    **answers(a.Caching),
)
async def caching_advice(s: MonthScoped, store: Store, costing: Costing) -> dict[str, Any]:
    return await run_in_threadpool(caching.opportunities, store, s, _pricing(costing))


@router.get(
    "/costs/capacity",
    summary="Busiest minutes per provider against its configured TPM/RPM limits, and when "
    "the forecast reaches them",
    **answers(a.Capacity),
)
async def capacity_report(
    s: MonthScoped,
    store: Store,
    horizon: Annotated[str, Query(description="days ahead: 30d (at most 365d)")] = "30d",
) -> dict[str, Any]:
    ahead = _days(horizon, "horizon", spend.MAX_HORIZON_DAYS)
    scope, today = spend.whole_days(s)
    return await run_in_threadpool(capacity.report, store, scope, ahead, today)


@router.put(
    "/costs/capacity/limits/{provider}",
    summary="A provider's rate limits for the project (tokens and requests per minute)",
    **answers(a.ProviderLimit),
)
async def put_limit(provider: str, body: Json, store: Store, admin: Admin) -> dict[str, Any]:
    given: capacity.LimitBody = checked(capacity.LimitBody, body)
    return await run_in_threadpool(capacity.save_limit, store, admin.project, provider, given)


@router.delete("/costs/capacity/limits/{provider}", summary="Forget a provider's limits",
               **answers(a.Deleted, 404))  # fmt: skip
async def delete_limit(provider: str, store: Store, admin: Admin) -> dict[str, Any]:
    if not await run_in_threadpool(capacity.delete_limit, store, admin.project, provider):
        raise ApiError(404, f"no limits for provider {provider!r}")
    return {"deleted": provider}

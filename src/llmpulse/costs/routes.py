"""The cost API: dated price overrides and re-costing (`/v1/pricing/...`), recommendations,
routing and caching advice, budgets, forecasts and capacity (`/v1/costs/...`)."""

from __future__ import annotations

from datetime import datetime
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
from llmpulse.costs import overrides, recommend
from llmpulse.costs.prices_now import Pricing
from llmpulse.costs.recost import Recoster
from llmpulse.query.params import MonthScoped, Store

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
    found = {o.id: o for o in overrides.listed(costing.engine, admin.project)}
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

"""The cost API: dated price overrides and re-costing (`/v1/pricing/...`), recommendations,
routing and caching advice, budgets, forecasts and capacity (`/v1/costs/...`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from llmpulse.api.auth import Admin, Reader
from llmpulse.api.bodies import Json, checked
from llmpulse.api.errors import ApiError, error_responses
from llmpulse.api.openapi import answers
from llmpulse.api.services import Service
from llmpulse.costs import answers as a
from llmpulse.costs import overrides
from llmpulse.costs.recost import Recoster

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

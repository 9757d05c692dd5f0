"""The drift and data-quality API: `/v1/drift` (and its saved baselines) and
`/v1/quality`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from llmpulse.analytics import answers as a
from llmpulse.analytics import baselines, drift, quality
from llmpulse.analytics.monitored import COLUMNS
from llmpulse.api.auth import Admin, Reader
from llmpulse.api.bodies import Json, checked
from llmpulse.api.errors import ApiError, error_responses
from llmpulse.api.openapi import answers
from llmpulse.query.filters import EARLIEST, LATEST, QueryError, Scope
from llmpulse.query.params import Scoped, Store
from llmpulse.store.engine import Engine

router = APIRouter(prefix="/v1", tags=["drift and quality"],
                   responses=error_responses(400, 401, 403, 422))  # fmt: skip


def drift_options(
    columns: Annotated[
        str | None, Query(description=f"comma-separated; default all: {', '.join(COLUMNS)}")
    ] = None,
    tests: Annotated[
        str | None,
        Query(
            description="per-column test: latency_ms:psi,model_id:chisquare (ks, chisquare, "
            "z, wasserstein, jensenshannon, psi, hellinger)"
        ),
    ] = None,
    thresholds: Annotated[
        str | None, Query(description="per-column threshold: latency_ms:0.2")
    ] = None,
    sample: Annotated[int, Query(ge=1000, le=200_000, description="calls per side")] = drift.SAMPLE,
    seed: Annotated[int, Query(ge=1, le=2**31)] = 1,
    dataset_threshold: Annotated[
        float, Query(gt=0, le=1, description="share of drifted columns for dataset drift")
    ] = drift.DATASET_SHARE,
) -> drift.Options:
    chosen = drift.parse_columns(columns)
    return drift.Options(
        chosen,
        drift.parse_tests(tests, chosen),
        drift.parse_thresholds(thresholds, chosen),
        sample,
        seed,
        dataset_threshold,
    )


@router.get(
    "/drift",
    summary="Each monitored column's drift between a reference and a current window: test, "
    "score, threshold, distributions, drift over time, the slices that moved it",
    **answers(a.DriftReport),
)
async def drift_report(
    s: Scoped,
    store: Store,
    options: Annotated[drift.Options, Depends(drift_options)],
    reference: Annotated[
        str,
        Query(
            description="FROM..TO (-14d..-7d, ISO 8601), experiment:[NAME:]VARIANT, or "
            "baseline:NAME (saved with PUT /v1/drift/baselines/NAME)"
        ),
    ] = "-14d..-7d",
    current: Annotated[str, Query(description="like reference")] = "-7d..now",
) -> dict[str, Any]:
    return await run_in_threadpool(_drift, store, s, reference, current, options)


def _drift(
    store: Engine, s: Scope, reference: str, current: str, options: drift.Options
) -> dict[str, Any]:
    now = datetime.now(UTC)
    ref = baselines.side(store, s, reference, "reference", now)
    cur = baselines.side(store, s, current, "current", now)
    return drift.report(store, s, ref, cur, options)


class BaselineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: str = Field(description="FROM..TO: ISO 8601 or relative (fixed when saved)")


@router.put(
    "/drift/baselines/{name}",
    summary="Save a known-good period as a baseline (reference=baseline:NAME)",
    **answers(a.Baseline),
)
async def save_baseline(name: str, body: Json, store: Store, admin: Admin) -> dict[str, Any]:
    given: BaselineBody = checked(BaselineBody, body)
    scope = Scope(admin.project, EARLIEST, LATEST)
    now = datetime.now(UTC)
    return await run_in_threadpool(baselines.save, store, scope, name, given.window, now)


@router.get("/drift/baselines", summary="The saved baselines", **answers(a.Baselines))
async def list_baselines(store: Store, reader: Reader) -> dict[str, Any]:
    return {"baselines": await run_in_threadpool(baselines.listed, store, reader.project)}


@router.delete("/drift/baselines/{name}", summary="Forget a saved baseline",
               **answers(a.BaselineDeleted, 404))  # fmt: skip
async def delete_baseline(name: str, store: Store, admin: Admin) -> dict[str, Any]:
    if not await run_in_threadpool(baselines.delete, store, admin.project, name):
        raise ApiError(404, f"no saved baseline {name!r}")
    return {"deleted": name}


def quality_options(
    completeness: Annotated[float, Query(ge=0, le=1)] = quality.Options.completeness,
    freshness: Annotated[int, Query(ge=1, description="seconds")] = quality.Options.freshness_s,
    gap: Annotated[int, Query(ge=60, description="seconds")] = quality.Options.gap_s,
) -> quality.Options:
    return quality.Options(completeness=completeness, freshness_s=freshness, gap_s=gap)


@router.get(
    "/quality",
    summary="Data quality of the telemetry: completeness, freshness, gaps, volume, "
    "duplicates, rejections, unpriced calls, clock skew, metadata shape, coverage",
    **answers(a.QualityReport),
)
async def quality_report(
    s: Scoped, store: Store, options: Annotated[quality.Options, Depends(quality_options)]
) -> dict[str, Any]:
    if s.end - s.start > quality.MAX_RANGE:
        raise QueryError("from", f"the range may be {quality.MAX_RANGE.days} days at most", 422)
    return await run_in_threadpool(quality.report, store, s, datetime.now(UTC), options)

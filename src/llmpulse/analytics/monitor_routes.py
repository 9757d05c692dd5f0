"""The drift and data-quality API: `/v1/drift` and `/v1/quality`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from llmpulse.analytics import answers as a
from llmpulse.analytics import drift, quality
from llmpulse.analytics.monitored import COLUMNS
from llmpulse.api.errors import error_responses
from llmpulse.api.openapi import answers
from llmpulse.query.params import Scoped, Store

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
        str, Query(description="FROM..TO (-14d..-7d, ISO 8601) or experiment:[NAME:]VARIANT")
    ] = "-14d..-7d",
    current: Annotated[str, Query(description="like reference")] = "-7d..now",
) -> dict[str, Any]:
    now = datetime.now(UTC)
    ref = drift.parse_side(reference, "reference", s, now)
    cur = drift.parse_side(current, "current", s, now)
    return await run_in_threadpool(drift.report, store, s, ref, cur, options)


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
    return await run_in_threadpool(quality.report, store, s, datetime.now(UTC), options)

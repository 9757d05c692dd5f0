"""The Drift and Data quality pages, built from the same functions as /v1/drift and
/v1/quality (their JSON twins)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from llmpulse.analytics import baselines, drift, quality
from llmpulse.api.errors import ApiError
from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine
from llmpulse.web import figures
from llmpulse.web.layout import View, render, view

router = APIRouter(include_in_schema=False)
Page = Annotated[View, Depends(view)]
DEFAULT_REFERENCE = "-14d..-7d"
DEFAULT_CURRENT = "-7d..now"
SHOWN_WITHOUT_DRIFT = 5


@router.get("/drift", response_class=HTMLResponse)
async def drift_page(v: Page) -> HTMLResponse:
    q = v.request.query_params
    reference = q.get("reference") or DEFAULT_REFERENCE
    current = q.get("current") or DEFAULT_CURRENT
    return await render("drift.html", v, drift_view, reference, current, title="Drift")


def drift_view(engine: Engine, scope: Scope, reference: str, current: str) -> dict[str, Any]:
    """The report, a sparkline of each column's two distributions, and each column's
    daily score against its threshold."""
    data: dict[str, Any] = {"reference": reference, "current": current}
    now = datetime.now(UTC)
    try:
        sides = (baselines.side(engine, scope, reference, "reference", now),
                 baselines.side(engine, scope, current, "current", now))  # fmt: skip
        report = drift.report(engine, scope, *sides, drift.Options())
    except ApiError as exc:  # windows that overlap or do not parse
        return {**data, "problem": exc.error}
    charts: dict[str, figures.Figure] = {}
    tested = [c for c in report["columns"] if c["status"] == "ok"]
    for column in tested:
        charts[f"spark:{column['column']}"] = figures.sparkline(column["distribution"])
    # The drifted columns day by day (without drift, the five nearest to it): every column
    # would be unreadable.
    closest = sorted(tested, key=lambda c: -(_against_threshold(c, c["score"]) or 0))
    shown = [c for c in tested if c["drifted"]] or closest[:SHOWN_WITHOUT_DRIFT]
    over_time = {
        c["column"]: [(p["t"], _against_threshold(c, p["score"])) for p in c["over_time"]]
        for c in shown
    }
    if over_time:
        charts["Drifted columns: score against threshold, per day (1 = drift)"] = figures.lines(
            over_time, "score ÷ threshold (p-values: threshold ÷ p)"
        )
    return {**data, "report": report, "charts": charts}


def _against_threshold(column: dict[str, Any], score: float | None) -> float | None:
    """How far a score is towards drift: 1 at the threshold, above 1 drifted."""
    if score is None:
        return None
    if column["score_type"] == "p_value":
        return min(100.0, float(column["threshold"]) / max(score, 1e-12))
    return float(score / column["threshold"])


@router.get("/quality", response_class=HTMLResponse)
async def quality_page(v: Page) -> HTMLResponse:
    return await render("quality.html", v, quality_view, title="Data quality")


def quality_view(engine: Engine, scope: Scope) -> dict[str, Any]:
    return {"report": quality.report(engine, scope, datetime.now(UTC), quality.Options())}

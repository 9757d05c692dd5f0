"""The Experiments, Retention, Funnels and Sessions & adoption pages, built from the same
functions as /v1/experiments and /v1/analytics/* (their JSON twins)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from llmpulse.analytics import experiments, product
from llmpulse.analytics.options import Options, Unit
from llmpulse.analytics.product import Period
from llmpulse.api.errors import ApiError
from llmpulse.events.taxonomy import DIMENSIONS
from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine
from llmpulse.web import figures
from llmpulse.web.layout import View, render, view

router = APIRouter(include_in_schema=False)
Page = Annotated[View, Depends(view)]
HISTOGRAM_BINS = 40


def _period(v: View) -> Period:
    return "week" if v.request.query_params.get("period") == "week" else "day"


def _choice(v: View, name: str) -> str | None:
    return v.request.query_params.get(name) or None


# -- experiments --------------------------------------------------------------------------------


@router.get("/experiments", response_class=HTMLResponse)
async def experiments_page(v: Page) -> HTMLResponse:
    name, control = _choice(v, "experiment"), _choice(v, "control")
    unit: Unit = "auto"
    if (asked := v.request.query_params.get("unit")) in ("event", "user"):
        unit = "event" if asked == "event" else "user"
    options = Options(control=control, unit=unit)
    return await render("experiments.html", v, experiment_view, name, options, title="Experiments")


def experiment_view(
    engine: Engine, scope: Scope, name: str | None, options: Options
) -> dict[str, Any]:
    """The experiments seen; the chosen one's report with its CI bars and distributions."""
    seen = experiments.list_experiments(engine, scope)["experiments"]
    name = name or (seen[0]["name"] if seen else None)
    data: dict[str, Any] = {"experiments": seen, "chosen": name, "unit": options.unit}
    if name is None:
        return data
    try:
        report = experiments.report(engine, scope, name, options, keep_samples=True)
    except ApiError as exc:  # an experiment not in this range, a control not a variant
        return {**data, "problem": exc.error}
    samples = report.pop("samples", {})
    data["report"] = report
    data["metric_names"] = sorted({m for v in report["variants"] for m in v["metrics"]})
    data["charts"] = _experiment_charts(report, samples, options.tolerance)
    return data


def _experiment_charts(
    report: dict[str, Any], samples: dict[str, dict[str, list[float]]], tolerance: float
) -> dict[str, figures.Figure]:
    rows = [
        (metric, v["variant"], r["relative"], *r["relative_ci"])
        for v in report["variants"]
        if not v["control"]
        for metric, r in sorted(v["metrics"].items())
        if r.get("relative_ci") and r.get("relative") is not None
    ]
    charts: dict[str, figures.Figure] = {}
    if rows:
        charts["Change vs control, with CIs"] = figures.intervals(rows, tolerance)
    for column, title in (("latency_ms", "Latency"), ("ttft_ms", "Time to first token")):
        values = {v: np.asarray(cols[column]) for v, cols in samples.items() if cols[column]}
        positive = [x[x > 0] for x in values.values()]
        if not any(x.size for x in positive):
            continue
        low = min(float(x.min()) for x in positive if x.size)
        high = max(float(x.max()) for x in positive if x.size)
        edges = np.geomspace(low, high * 1.0001, HISTOGRAM_BINS + 1)
        counts = {v: np.histogram(x, edges)[0].tolist() for v, x in values.items()}
        charts[f"{title} by variant (sampled calls)"] = figures.histograms(
            edges.tolist(), counts, f"{column.removesuffix('_ms')} ms"
        )
    return charts


# -- retention ----------------------------------------------------------------------------------


@router.get("/retention", response_class=HTMLResponse)
async def retention_page(v: Page) -> HTMLResponse:
    group = _choice(v, "segment")
    return await render("retention.html", v, retention_view, _period(v), group, title="Retention")


def retention_view(
    engine: Engine, scope: Scope, period: Period, group_by: str | None
) -> dict[str, Any]:
    answer = product.retention(engine, scope, period, group_by)
    cohorts = answer["cohorts"]
    width = max((len(c["rates"]) for c in cohorts), default=0)
    labels = [
        c["cohort"] + (f" · {c['segment']}" if group_by else "") + f" ({c['users']:,})"
        for c in cohorts
    ]
    rates = [c["rates"] + [None] * (width - len(c["rates"])) for c in cohorts]
    charts = {}
    if cohorts:
        charts["Share of each cohort active again"] = figures.heatmap(
            [str(k) for k in range(width)], labels, rates
        )
    return {**answer, "charts": charts, "segments": ["experiment", *DIMENSIONS]}


# -- funnels ------------------------------------------------------------------------------------


@router.get("/funnels", response_class=HTMLResponse)
async def funnels_page(v: Page) -> HTMLResponse:
    steps, window = _choice(v, "steps"), _choice(v, "window") or "1h"
    return await render("funnels.html", v, funnel_view, steps, window, title="Funnels")


def funnel_view(engine: Engine, scope: Scope, steps: str | None, window: str) -> dict[str, Any]:
    """The funnel asked for; by default the most used features, in the order users first
    reach them."""
    data: dict[str, Any] = {"window": window}
    if steps is None:
        steps = ",".join(f"feature:{f}" for f in product.features_in_order(engine, scope))
    data["steps_text"] = steps
    if steps.count(",") < 1:
        return {**data, "problem": "Give two steps or more, like feature:search,feature:export"}
    try:
        chosen, window_s = product.parse_steps(steps), product.parse_window(window)
    except ApiError as exc:
        return {**data, "problem": exc.error}
    answer = product.funnel(engine, scope, chosen, window_s)
    labels = [s["step"] for s in answer["steps"]]
    chart = figures.bars(labels, [s["users"] for s in answer["steps"]], "users")
    return {**data, **answer, "charts": {"Users reaching each step": chart}}


# -- sessions and adoption ----------------------------------------------------------------------


@router.get("/adoption", response_class=HTMLResponse)
async def adoption_page(v: Page) -> HTMLResponse:
    return await render("adoption.html", v, adoption_view, _period(v), title="Sessions & adoption")


def adoption_view(engine: Engine, scope: Scope, period: Period) -> dict[str, Any]:
    sessions = product.sessions(engine, scope, period)
    adoption = product.adoption(engine, scope, period)
    per = sessions["periods"]

    def series(key: str) -> list[tuple[str, float | None]]:
        return [(p["t"], p[key]) for p in per]

    users: figures.Series = {
        "new": series("new_users"),
        "returning": series("returning_users"),
        "churned": [(t, -(n or 0.0)) for t, n in series("churned_users")],
    }
    charts = {
        "Sessions": figures.lines({"sessions": series("sessions")}, "sessions"),
        "Session length (calls)": figures.lines(
            {"median": series("median_calls"), "p90": series("p90_calls")}, "calls"
        ),
        "Users: new, returning, churned": figures.stacked_bars(users, "users"),
        "Users per feature": figures.lines(
            {
                f["feature"]: [(p["t"], p["users"]) for p in f["periods"]]
                for f in adoption["features"]
            },
            "users",
        ),
    }
    errors = [(t, None if x is None else x * 100) for t, x in series("error_share")]
    charts["Sessions with an error (%)"] = figures.lines({"share": errors}, "%")
    return {"sessions": sessions, "adoption": adoption, "charts": charts, "period": period}

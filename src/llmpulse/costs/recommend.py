"""Which model to move a feature's calls to, from the project's own traffic.

For each feature (or prompt version) and the model serving it, every other model seen in
the same feature (or each configured candidate) is a candidate. Its cost is the current
model's very calls re-priced at the candidate's price today (tokens kept: an assumption
docs/costs.md states). Its quality is its own traffic in that feature: error rate, p95
latency and, when asked, a score, each against the current model's with a CI by the
experiments statistics (analytics/compare.py). A candidate is recommended only when it is
cheaper with a CI above zero, has enough calls on both sides, and is no worse than the
allowed margins on every guardrail at the CI's far end; otherwise the reasons say why not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal
from urllib.parse import urlencode

import numpy as np

from llmpulse.analytics import compare, stats
from llmpulse.analytics.options import Options as StatsOptions
from llmpulse.costs.prices_now import Pricing
from llmpulse.query import scores
from llmpulse.query.filters import Scope, iso_ms
from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS

By = Literal["feature", "prompt_version"]
DAYS_PER_MONTH: Final = 30.4375
SAMPLE: Final = 2000  # latencies per feature and model, for the p95's bootstrap CI
P95: Final = (("latency_p95", 0.95),)


@dataclass(frozen=True)
class Options:
    by: By = "feature"
    candidates: tuple[str, ...] = ()  # default: every model seen in the same feature
    min_calls: int = 200
    error_margin: float = 0.01  # absolute: 1 percentage point more errors at most
    latency_tolerance: float = 0.10  # relative: p95 10% slower at most
    score: str | None = None  # a numeric or boolean score name to guard
    score_margin: float = 0.05  # absolute: the score's mean this much lower at most
    confidence: float = 0.95


@dataclass
class Cell:
    """One model's calls in one feature: counts, cost, re-priced costs, days."""

    calls: int = 0
    errors: int = 0
    priced: int = 0
    cost: float = 0.0
    repriced: dict[str, float] | None = None
    daily_saving: dict[str, dict[str, float]] | None = None  # candidate -> day -> USD
    p95: float | None = None
    sample: np.ndarray[Any, Any] | None = None
    score: stats.Moments | None = None


def recommendations(
    engine: Engine, scope: Scope, pricing: Pricing, options: Options
) -> dict[str, Any]:
    models = models_in(engine, scope)
    wanted = list(options.candidates) or sorted(models)
    priced = pricing.costs_sql(scope.project, {c: models.get(c, "") for c in wanted})
    cells = _cells(engine, scope, options, priced)
    _latencies(engine, scope, options, cells)
    if options.score:
        _scores(engine, scope, options, cells)
    # Calendar days the range touches: the unit of the saving's interval.
    days = ((scope.end - timedelta(milliseconds=1)).date() - scope.start.date()).days + 1
    groups, recommended = [], []
    boots: dict[str, dict[str, Any]] = {}  # per group: each model's latency bootstrap
    for (group, model), cell in sorted(cells.items()):
        candidates = []
        for c in wanted:
            if c == model:
                continue
            own = cells.get((group, c))
            group_boots = boots.setdefault(group, {})
            judged = _judge(model, c, cell, own, c in priced, days, options, group_boots)
            judged["events"] = link(scope, **{options.by: group, "model_id": c})
            candidates.append(judged)
            if judged["verdict"] == "recommended":
                recommended.append({options.by: group, "model_id": model, **judged})
        groups.append(
            {
                options.by: group,
                "model_id": model,
                "calls": cell.calls,
                "error_rate": cell.errors / cell.calls,
                "latency_p95": cell.p95,
                "cost_usd": cell.cost,
                "unpriced": cell.calls - cell.priced,
                "events": link(scope, **{options.by: group, "model_id": model}),
                "candidates": candidates,
            }
        )
    recommended.sort(key=lambda r: -r["monthly_saving"]["value"])
    best: dict[tuple[str, str], float] = {}
    for r in recommended:
        key = (r[options.by], r["model_id"])
        best[key] = max(best.get(key, 0.0), r["monthly_saving"]["value"])
    return {
        "from": iso_ms(int(scope.start.timestamp() * 1000)),
        "to": iso_ms(int(scope.end.timestamp() * 1000)),
        "by": options.by,
        "days": days,
        "unpriced_candidates": sorted(c for c in wanted if c not in priced),
        "recommended": recommended,
        "monthly_saving": sum(best.values()),
        "groups": groups,
    }


def models_in(engine: Engine, scope: Scope) -> dict[str, str]:
    """The models in scope with the provider most of their calls name."""
    where, params = scope.where()
    rows = engine.rows(
        f"SELECT model_id AS m, topK(1)(provider)[1] AS p FROM {EVENTS} WHERE {where} GROUP BY m",
        params,
    )
    return {r["m"]: r["p"] for r in rows}


def _cells(
    engine: Engine, scope: Scope, options: Options, priced: dict[str, str]
) -> dict[tuple[str, str], Cell]:
    where, params = scope.where()
    names = sorted(priced)
    repriced = ", ".join(f"sumIf({priced[c]}, e.cost_usd IS NOT NULL)" for c in names)
    rows = engine.rows(
        f"""
        SELECT toString(e.{options.by}) AS g, e.model_id AS m, toString(toDate(e.ts)) AS day,
            count() AS n, countIf(e.status = 'error') AS k, count(e.cost_usd) AS priced,
            sum(ifNull(e.cost_usd, 0)) AS cost, [{repriced}] AS repriced
        FROM {EVENTS} AS e WHERE {where} GROUP BY g, m, day
        """,
        params,
    )
    cells: dict[tuple[str, str], Cell] = {}
    for r in rows:
        cell = cells.setdefault((r["g"], r["m"]), Cell(repriced={}, daily_saving={}))
        assert cell.repriced is not None and cell.daily_saving is not None
        cell.calls += int(r["n"])
        cell.errors += int(r["k"])
        cell.priced += int(r["priced"])
        cell.cost += float(r["cost"])
        for c, usd in zip(names, r["repriced"], strict=True):
            cell.repriced[c] = cell.repriced.get(c, 0.0) + float(usd)
            cell.daily_saving.setdefault(c, {})[r["day"]] = float(r["cost"]) - float(usd)
    return cells


def _latencies(
    engine: Engine, scope: Scope, options: Options, cells: dict[tuple[str, str], Cell]
) -> None:
    where, params = scope.where()
    rows = engine.rows(
        f"""
        SELECT toString(e.{options.by}) AS g, e.model_id AS m,
            quantile(0.95)(e.latency_ms) AS p95, groupArraySample({SAMPLE}, 1)(e.latency_ms) AS s
        FROM {EVENTS} AS e WHERE {where} GROUP BY g, m
        """,
        params,
    )
    for r in rows:
        cell = cells[(r["g"], r["m"])]
        cell.p95, cell.sample = float(r["p95"]), np.asarray(r["s"], dtype=float)


def _scores(
    engine: Engine, scope: Scope, options: Options, cells: dict[tuple[str, str], Cell]
) -> None:
    assert options.score is not None
    sql, params = scores.joined(scope, [options.by, "model_id"], [options.score])
    rows = engine.rows(
        f"SELECT toString({options.by}) AS g, model_id AS m, count() AS n, avg(value) AS mean, "
        f"varSamp(value) AS var FROM ({sql}) WHERE data_type != 'categorical' GROUP BY g, m",
        params,
    )
    for r in rows:
        if (r["g"], r["m"]) in cells and r["n"] >= 2:
            cells[(r["g"], r["m"])].score = stats.Moments(int(r["n"]), r["mean"], r["var"])


def _saving(cell: Cell, candidate: str, days: int, confidence: float) -> dict[str, Any]:
    """The projected monthly saving: the mean daily saving over the calendar days of the
    range (days without calls save nothing; partial days at its ends count as days) times
    the days of a month, with a t interval over the days."""
    assert cell.daily_saving is not None
    per_day = np.zeros(days)
    values = list(cell.daily_saving.get(candidate, {}).values())
    per_day[: len(values)] = values
    mean = float(per_day.mean())
    if days < 2:
        return {"value": mean * DAYS_PER_MONTH, "ci": None}
    half = stats.t_of(confidence, days - 1) * float(per_day.std(ddof=1)) / math.sqrt(days)
    ci = [(mean - half) * DAYS_PER_MONTH, (mean + half) * DAYS_PER_MONTH]
    return {"value": mean * DAYS_PER_MONTH, "ci": ci}


def _judge(
    model: str,
    candidate: str,
    cell: Cell,
    own: Cell | None,
    has_price: bool,
    days: int,
    options: Options,
    boots: dict[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {"candidate": candidate, "calls": own.calls if own else 0}
    if not has_price:
        return {**out, "verdict": "withheld", "reasons": [f"{candidate} has no known price"]}
    assert cell.repriced is not None
    out["cost_usd"] = cell.repriced[candidate]
    out["saving_usd"] = cell.cost - cell.repriced[candidate]
    out["saving_share"] = out["saving_usd"] / cell.cost if cell.cost else None
    out["monthly_saving"] = _saving(cell, candidate, days, options.confidence)
    reasons = []
    ci = out["monthly_saving"]["ci"]
    if ci is None or ci[0] <= 0:
        reasons.append(f"not surely cheaper than {model} on these calls")
    if own is None or min(own.calls, cell.calls) < options.min_calls:
        reasons.append(
            f"{candidate} has {out['calls']} calls here and {model} {cell.calls}; "
            f"{options.min_calls} each are needed to judge it"
        )
        return {**out, "verdict": "withheld", "reasons": reasons}
    stats_options = StatsOptions(method="fixed", confidence=options.confidence)
    pair = {model: cell, candidate: own}
    errors = compare.rates({m: (c.errors, c.calls) for m, c in pair.items()}, model, stats_options)
    out["error_rate"] = errors[candidate]
    worse = errors[candidate]["diff_ci"][1]
    if worse > options.error_margin:
        reasons.append(
            f"error rate may be {worse:+.1%} points worse (CI), more than the "
            f"{options.error_margin:.1%} allowed"
        )
    # The latency bootstrap is the costly part: only for a cheaper candidate.
    if not reasons and cell.sample is not None and own.sample is not None:
        overview = {m: {"latency_p95": c.p95} for m, c in pair.items()}
        samples = {model: {"latency_ms": cell.sample}, candidate: {"latency_ms": own.sample}}
        latency = compare.quantiles(
            overview, samples, "latency_ms", P95, model, stats_options, boots
        )
        out["latency_p95"] = latency["latency_p95"][candidate]
        slower = (out["latency_p95"].get("relative_ci") or [0, math.inf])[1]
        if slower > options.latency_tolerance:
            reasons.append(
                f"p95 latency may be {slower:+.0%} slower (CI), more than the "
                f"{options.latency_tolerance:.0%} allowed"
            )
    if options.score:
        if cell.score is None or own.score is None:
            reasons.append(f"score {options.score!r} is missing on one side")
        else:
            moments = {model: cell.score, candidate: own.score}
            out["score"] = compare.means(moments, model, stats_options)[candidate]
            lower = out["score"]["diff_ci"][0]
            if lower < -options.score_margin:
                reasons.append(
                    f"score {options.score!r} may be {lower:+.3g} lower (CI), more than the "
                    f"{options.score_margin:g} allowed"
                )
    return {**out, "verdict": "withheld" if reasons else "recommended", "reasons": reasons}


def link(scope: Scope, **filters: str) -> str:
    """The request log of these calls, for clicking through from a figure."""
    query = {
        "from": iso_ms(int(scope.start.timestamp() * 1000)),
        "to": iso_ms(int(scope.end.timestamp() * 1000)),
        **filters,
    }
    return "/requests?" + urlencode(query)

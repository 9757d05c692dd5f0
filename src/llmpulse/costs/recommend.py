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
from llmpulse.costs.prices_now import Pricing, Repricer
from llmpulse.query import scores
from llmpulse.query.aggregates import PRICED_TOKENS, aggregate
from llmpulse.query.filters import Scope, iso_ms
from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS

By = Literal["feature", "prompt_version"]
DAYS_PER_MONTH: Final = 30.4375
SAMPLE: Final = 1000  # latencies per feature and model, for the p95's bootstrap CI
HASH_RANGE: Final = 1 << 32
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
    repricer = pricing.repricer(scope.project, {c: models.get(c, "") for c in wanted})
    priced = repricer.schedules
    cells = _cells(engine, scope, options, repricer)
    # Calendar days the range touches: the unit of the saving's interval.
    days = ((scope.end - timedelta(milliseconds=1)).date() - scope.start.date()).days + 1
    judged: dict[tuple[str, str], list[dict[str, Any]]] = {}
    needed: set[tuple[str, str]] = set()  # cells whose latency decides a pair
    for (group, model), cell in sorted(cells.items()):
        pairs = judged[(group, model)] = []
        for c in wanted:
            if c == model:
                continue
            own = cells.get((group, c))
            pair = _judge_cost(model, c, cell, own, c in priced, days, options)
            pair["events"] = link(scope, **{options.by: group, "model_id": c})
            pairs.append(pair)
            if not pair["reasons"]:
                needed |= {(group, model), (group, c)}
    _latencies(engine, scope, options, cells, needed)
    if options.score:
        _scores(engine, scope, options, cells)
    groups, recommended = [], []
    boots: dict[str, dict[str, Any]] = {}  # per group: each model's latency bootstrap
    for (group, model), cell in sorted(cells.items()):
        candidates = judged[(group, model)]
        for pair in candidates:
            if not pair["reasons"]:
                own = cells[(group, pair["candidate"])]
                group_boots = boots.setdefault(group, {})
                _judge_quality(pair, model, cell, own, options, group_boots)
            pair["verdict"] = "withheld" if pair["reasons"] else "recommended"
            if pair["verdict"] == "recommended":
                recommended.append({options.by: group, "model_id": model, **pair})
        groups.append(
            {
                options.by: group,
                "model_id": model,
                "calls": cell.calls,
                "error_rate": cell.errors / cell.calls,
                "cost_usd": cell.cost if cell.priced else None,  # unpriced: unknown, not $0
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
    """The models in scope with the provider most of their calls name (from the rollups)."""
    rows = aggregate(engine, scope, ["model_id", "provider"], ["requests"])
    best: dict[str, tuple[int, str]] = {}
    for r in rows:
        if r["requests"] > best.get(r["model_id"], (0, ""))[0]:
            best[r["model_id"]] = (r["requests"], r["provider"])
    return {m: provider for m, (_, provider) in best.items()}


def _cells(
    engine: Engine, scope: Scope, options: Options, repricer: Repricer
) -> dict[tuple[str, str], Cell]:
    """Each model's calls in each group, day by day; its priced calls re-priced at every
    candidate's price (priced calls only: an unpriced call's cost is unknown)."""
    measures = ["requests", "errors", "cost_usd", "priced", *PRICED_TOKENS]
    keys = [options.by, "model_id", "price_band"]
    cells: dict[tuple[str, str], Cell] = {}
    for r in aggregate(engine, scope, keys, measures, bucket_s=86400):
        cell = cells.setdefault((r[options.by], r["model_id"]), Cell(repriced={}, daily_saving={}))
        assert cell.repriced is not None and cell.daily_saving is not None
        cell.calls += int(r["requests"])
        cell.errors += int(r["errors"])
        cell.priced += int(r["priced"])
        cell.cost += float(r["cost_usd"])
        for c in repricer.schedules:
            usd = repricer.cost(c, r["price_band"], r)
            cell.repriced[c] = cell.repriced.get(c, 0.0) + usd
            daily = cell.daily_saving.setdefault(c, {})
            daily[r["t"]] = daily.get(r["t"], 0.0) + float(r["cost_usd"]) - usd
    return cells


def _latencies(
    engine: Engine,
    scope: Scope,
    options: Options,
    cells: dict[tuple[str, str], Cell],
    needed: set[tuple[str, str]],
) -> None:
    """About SAMPLE latencies of each `needed` cell, and their p95: the calls whose
    event-id hash falls below a threshold set from the cell's count, so the same calls
    every time (a reservoir sample would differ from run to run)."""
    if not needed:
        return
    where, params = scope.where()
    below = {key: min(HASH_RANGE, HASH_RANGE * SAMPLE // cells[key].calls) for key in needed}
    params["keys"] = [f"{g}\t{m}" for g, m in below]
    params["below"] = list(below.values())
    # Cells smaller than the sample are taken whole; the others' calls pass a cheap test
    # first (the largest threshold, or a model with a whole cell), so the per-cell
    # threshold is looked up for few calls.
    params["whole"] = sorted({m for (_, m), b in below.items() if b == HASH_RANGE})
    params["models"] = sorted({m for _, m in needed})
    hashed = max([b for b in below.values() if b < HASH_RANGE], default=0)
    rows = engine.rows(
        f"""
        SELECT toString(e.{options.by}) AS g, e.model_id AS m, groupArray(e.latency_ms) AS s
        FROM {EVENTS} AS e WHERE {where} AND e.model_id IN {{models:Array(String)}}
            AND (cityHash64(e.event_id) % {HASH_RANGE} < {hashed}
                 OR e.model_id IN {{whole:Array(String)}})
            AND cityHash64(e.event_id) % {HASH_RANGE} <
                transform(concat(toString(e.{options.by}), '\t', toString(e.model_id)),
                          {{keys:Array(String)}}, {{below:Array(UInt64)}}, toUInt64(0))
        GROUP BY g, m
        """,
        params,
    )
    for r in rows:
        cell = cells[(r["g"], r["m"])]
        cell.sample = np.asarray(r["s"], dtype=float)
        cell.p95 = float(np.percentile(cell.sample, 95))


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


def _judge_cost(
    model: str,
    candidate: str,
    cell: Cell,
    own: Cell | None,
    has_price: bool,
    days: int,
    options: Options,
) -> dict[str, Any]:
    """The candidate's cost on the current model's calls, and the checks that need no
    sample: price, saving, traffic, error rate. `reasons` lists those that failed."""
    out: dict[str, Any] = {"candidate": candidate, "calls": own.calls if own else 0}
    if not has_price:
        return {**out, "reasons": [f"{candidate} has no known price"]}
    if not cell.priced:  # their cost is unknown, not $0: nothing to compare
        return {**out, "reasons": [f"{model}'s calls here are unpriced"]}
    assert cell.repriced is not None
    out["cost_usd"] = cell.repriced.get(candidate, 0.0)
    out["saving_usd"] = cell.cost - out["cost_usd"]
    out["saving_share"] = out["saving_usd"] / cell.cost if cell.cost else None
    out["monthly_saving"] = _saving(cell, candidate, days, options.confidence)
    reasons = out["reasons"] = []
    ci = out["monthly_saving"]["ci"]
    if ci is None or ci[0] <= 0:
        reasons.append(f"not surely cheaper than {model} on these calls")
    if own is None or min(own.calls, cell.calls) < options.min_calls:
        reasons.append(
            f"{candidate} has {out['calls']} calls here and {model} {cell.calls}; "
            f"{options.min_calls} each are needed to judge it"
        )
        return out
    counts = {model: (cell.errors, cell.calls), candidate: (own.errors, own.calls)}
    out["error_rate"] = compare.rates(counts, model, _stats_options(options))[candidate]
    worse = out["error_rate"]["diff_ci"][1]
    if worse > options.error_margin:
        reasons.append(
            f"error rate may be {worse:+.1%} points worse (CI), more than the "
            f"{options.error_margin:.1%} allowed"
        )
    return out


def _judge_quality(
    out: dict[str, Any], model: str, cell: Cell, own: Cell, options: Options, boots: dict[str, Any]
) -> None:
    """The checks on samples, for a candidate that passed the others: p95 latency (the
    costly bootstrap) and the score; failures go to out["reasons"]."""
    reasons, candidate = out["reasons"], out["candidate"]
    if cell.sample is not None and own.sample is not None:
        overview = {model: {"latency_p95": cell.p95}, candidate: {"latency_p95": own.p95}}
        samples = {model: {"latency_ms": cell.sample}, candidate: {"latency_ms": own.sample}}
        latency = compare.quantiles(
            overview, samples, "latency_ms", P95, model, _stats_options(options), boots
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
            out["score"] = compare.means(moments, model, _stats_options(options))[candidate]
            lower = out["score"]["diff_ci"][0]
            if lower < -options.score_margin:
                reasons.append(
                    f"score {options.score!r} may be {lower:+.3g} lower (CI), more than the "
                    f"{options.score_margin:g} allowed"
                )


def _stats_options(options: Options) -> StatsOptions:
    return StatsOptions(method="fixed", confidence=options.confidence)


def link(scope: Scope, **filters: str) -> str:
    """The request log of these calls, for clicking through from a figure."""
    query = {
        "from": iso_ms(int(scope.start.timestamp() * 1000)),
        "to": iso_ms(int(scope.end.timestamp() * 1000)),
        **filters,
    }
    return "/requests?" + urlencode(query)

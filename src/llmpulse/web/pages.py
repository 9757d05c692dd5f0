"""What each dashboard page shows, from the same query functions as the JSON API.

A page is a dict of KPIs, tables and Plotly figures; templates only render it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from llmpulse.query import events, metrics
from llmpulse.query.aggregates import QUANTILE_LEVELS, aggregate, number
from llmpulse.query.filters import Scope, iso_ms
from llmpulse.store.engine import Engine
from llmpulse.web import figures

Row = dict[str, Any]
# A sensible bucket for each range length (seconds), keeping charts at 60-700 points.
_INTERVALS = ((3 * 3600, 60), (2 * 86400, 900), (10 * 86400, 3600), (None, 86400))


def interval_for(scope: Scope) -> int:
    span = (scope.end - scope.start).total_seconds()
    return next(seconds for limit, seconds in _INTERVALS if limit is None or span <= limit)


def _series(
    engine: Engine,
    scope: Scope,
    group_by: list[str],
    measures: list[str],
    values: dict[str, Callable[[Row], Any]],
    bucket_s: int,
) -> dict[str, figures.Series]:
    """For each named value, one series per group, every bucket present (None if empty)."""
    rows = aggregate(engine, scope, group_by, measures, bucket_s)
    buckets = metrics.Buckets.cover(scope, _interval_name(bucket_s)).starts_ms()
    by_group: dict[str, dict[int, Row]] = {}
    for row in rows:
        name = " / ".join(str(row[k]) or "(none)" for k in group_by) or "all"
        by_group.setdefault(name, {})[row["t"]] = row
    out: dict[str, figures.Series] = {}
    for value_name, value in values.items():
        out[value_name] = {
            group: [(iso_ms(t), number(value(r[t])) if t in r else None) for t in buckets]
            for group, r in sorted(by_group.items())
        }
    return out


def _interval_name(seconds: int) -> str:
    return next(k for k, v in metrics.INTERVALS.items() if v == seconds)


def _quantile(measure: str, level: float) -> Callable[[Row], Any]:
    index = QUANTILE_LEVELS.index(level)
    return lambda r: r[measure][index] if r[measure] else None


def _per(top: str, bottom: str, scale: float = 1.0) -> Callable[[Row], Any]:
    return lambda r: r[top] * scale / r[bottom] if r[bottom] else None


def _change(now: float | None, before: float | None) -> float | None:
    if now is None or not before:
        return None
    return (now - before) / before


def kpis(engine: Engine, scope: Scope) -> list[dict[str, Any]]:
    """Headline numbers with their change against the previous period of the same length."""
    length = scope.end - scope.start
    before = replace(scope, start=scope.start - length, end=scope.start)
    hours = length.total_seconds() / 3600
    cards: list[dict[str, Any]] = []
    now_g = metrics.summary(engine, scope, [])["groups"][0]
    then_g = metrics.summary(engine, before, [])["groups"][0]
    readers: tuple[tuple[str, str, str, Callable[[Row], Any]], ...] = (
        ("requests", "Requests", "", lambda g: g["requests"]),
        ("error_rate", "Error rate", "%", lambda g: g["error_rate"]),
        ("latency_p50", "Latency p50", "ms", lambda g: g["latency_ms"]["p50"]),
        ("latency_p95", "Latency p95", "ms", lambda g: g["latency_ms"]["p95"]),
        ("latency_p99", "Latency p99", "ms", lambda g: g["latency_ms"]["p99"]),
        ("ttft_p95", "TTFT p95", "ms", lambda g: g["ttft_ms"]["p95"]),
        ("tokens_per_s", "Tokens/s", "", lambda g: g["tokens_per_s"]),
        ("tokens", "Tokens", "", lambda g: g["tokens_in"] + g["tokens_out"]),
        ("cost_usd", "Cost", "$", lambda g: g["cost_usd"]),
        ("cost_per_hour", "Cost per hour", "$", lambda g: g["cost_usd"] / hours),
    )
    for key, label, unit, read in readers:
        value, previous = read(now_g), read(then_g)
        cards.append(
            {"key": key, "label": label, "unit": unit, "value": value,
             "change": _change(value, previous)}
        )  # fmt: skip
    return cards


def overview(engine: Engine, scope: Scope) -> dict[str, Any]:
    bucket = interval_for(scope)
    per_minute = 60 / bucket
    by_model = _series(
        engine,
        scope,
        ["model_id"],
        ["requests", "latency_q", "ttft_q", "tps_tokens", "tps_ms"],
        {
            **{f"p{round(q * 100)}": _quantile("latency_q", q) for q in QUANTILE_LEVELS},
            "ttft_p95": _quantile("ttft_q", 0.95),
            "tokens_per_s": _per("tps_tokens", "tps_ms", 1000),
            "rate": lambda r: r["requests"] * per_minute,
        },
        bucket,
    )
    overall = _series(
        engine,
        scope,
        [],
        ["requests", "tokens_in", "tokens_out", "cost_usd"],
        {
            "tokens_per_request": lambda r: (
                (r["tokens_in"] + r["tokens_out"]) / r["requests"] if r["requests"] else None
            ),
            "cost_per_hour": lambda r: r["cost_usd"] * 3600 / bucket,
            "requests": lambda r: r["requests"],
        },
        bucket,
    )
    latency: figures.Series = {}
    for level in ("p50", "p95", "p99"):
        latency.update({f"{m} {level}": pts for m, pts in by_model[level].items()})
    models = metrics.summary(engine, scope, ["model_id"])["groups"]
    return {
        "kpis": kpis(engine, scope),
        "models": models,
        "charts": {
            "Latency p50 (solid) / p95 (dash) / p99 (dot) by model": latency_figure(latency),
            "Time to first token p95 by model": figures.lines(by_model["ttft_p95"], "ms"),
            "Tokens per second by model": figures.lines(by_model["tokens_per_s"], "tokens/s"),
            "Requests per minute by model": figures.lines(by_model["rate"], "requests/min"),
            "Average tokens per request": figures.lines(overall["tokens_per_request"], "tokens"),
            "Cost per hour": figures.stacked_bars(overall["cost_per_hour"], "USD/hour"),
            "Error rate by error type": error_rate_by(engine, scope, "error_type", bucket),
        },
    }


def latency_figure(latency: figures.Series) -> figures.Figure:
    figure = figures.lines(latency, "ms (log scale)", figures.DASHES)
    figure["layout"]["yaxis"].update(type="log", rangemode="normal")
    return figure


def error_rate_by(engine: Engine, scope: Scope, dimension: str, bucket: int) -> figures.Figure:
    """Errors of each kind (or model) as a share of all calls in each bucket."""
    totals = _series(engine, scope, [], ["requests"], {"n": lambda r: r["requests"]}, bucket)
    total_by_t = {t: v for t, v in totals["n"].get("all", [])}
    errors = _series(
        engine,
        replace(scope, filters={**scope.filters, "status": ["error"]}),
        [dimension],
        ["errors"],
        {"n": lambda r: r["errors"]},
        bucket,
    )["n"]
    rates: figures.Series = {}
    for name, pts in errors.items():
        rates[name] = []
        for t, v in pts:
            total = total_by_t.get(t)
            rates[name].append((t, (v or 0) / total if total else None))
    figure = figures.lines(rates, "share of calls")
    figure["layout"]["yaxis"]["tickformat"] = ".1%"
    return figure


def errors_page(engine: Engine, scope: Scope) -> dict[str, Any]:
    bucket = interval_for(scope)
    return {
        "charts": {
            "Error rate by error type": error_rate_by(engine, scope, "error_type", bucket),
            "Error rate by model": error_rate_by(engine, scope, "model_id", bucket),
        },
        "top": events.top_errors(engine, scope, 20)["errors"],
        "rejected": events.rejected(engine, scope, 50)["rejected"],
    }


COST_DIMENSIONS = (
    ("model_id", "model"),
    ("provider", "provider"),
    ("user_id", "user (top 10)"),
    ("prompt_version", "prompt version"),
    ("experiment_variant", "experiment variant"),
)


def costs_page(engine: Engine, scope: Scope) -> dict[str, Any]:
    bucket = interval_for(scope)
    charts = {}
    for dimension, label in COST_DIMENSIONS:
        series = _series(
            engine, scope, [dimension], ["cost_usd"], {"c": lambda r: r["cost_usd"]}, bucket
        )["c"]
        if dimension == "user_id":
            top = sorted(series, key=lambda k: -sum(v or 0 for _, v in series[k]))[:10]
            series = {k: series[k] for k in top}
        charts[f"Cost by {label}"] = figures.stacked_bars(series, "USD")
    return {
        "charts": charts,
        "unpriced": events.unpriced_models(engine, scope)["models"],
        "by_model": metrics.summary(engine, scope, ["model_id"])["groups"],
    }


def users_page(engine: Engine, scope: Scope) -> dict[str, Any]:
    users = metrics.summary(engine, scope, ["user_id"])["groups"]
    return {
        "top_by_requests": users[:20],
        "top_by_cost": sorted(users, key=lambda g: -g["cost_usd"])[:20],
        "sessions": events.sessions(engine, scope, 100)["sessions"],
    }


def session_page(engine: Engine, scope: Scope, session_id: str) -> dict[str, Any]:
    chosen = replace(scope, filters={**scope.filters, "session_id": [session_id]})
    calls = events.list_requests(engine, chosen, 500, None)["requests"][::-1]
    return {"session_id": session_id, "calls": calls, "timeline": figures.timeline(calls)}


def models_page(engine: Engine, scope: Scope, chosen: list[str]) -> dict[str, Any]:
    all_models = metrics.summary(engine, replace(scope, filters={}), ["model_id"])["groups"]
    names = [g["key"]["model_id"] for g in all_models]
    chosen = [m for m in chosen if m in names][:4] or names[:2]
    picked = replace(scope, filters={**scope.filters, "model_id": chosen})
    summary = {
        g["key"]["model_id"]: g for g in metrics.summary(engine, picked, ["model_id"])["groups"]
    }
    compared = events.compare_models(engine, picked)
    rows = []
    for model in chosen:
        g = summary.get(model)
        if g is None:
            continue
        tokens = g["tokens_in"] + g["tokens_out"]
        rows.append(
            {
                "model_id": model,
                "requests": g["requests"],
                "latency_p50": g["latency_ms"]["p50"],
                "latency_p95": g["latency_ms"]["p95"],
                "ttft_p50": g["ttft_ms"]["p50"],
                "ttft_p95": g["ttft_ms"]["p95"],
                "tokens_per_s": g["tokens_per_s"],
                "cost_per_request": g["cost_usd"] / g["requests"] if g["requests"] else None,
                "cost_per_1k_tokens": g["cost_usd"] * 1000 / tokens if tokens else None,
                "error_rate": g["error_rate"],
                "unpriced": g["unpriced"],
            }
        )
    models = compared["models"]
    charts = {
        "Latency distribution": figures.histograms(
            compared["bin_edges_ms"], {m: models[m]["histogram"] for m in chosen if m in models}
        ),
        "Tokens vs latency (sample)": figures.scatter(
            {m: models[m]["sample"] for m in chosen if m in models}
        ),
    }
    for key, label in (("ttft_p95", "TTFT p95 ms"), ("tokens_per_s", "Tokens/s"),
                       ("cost_per_request", "Cost per request $"),
                       ("cost_per_1k_tokens", "Cost per 1k tokens $"),
                       ("error_rate", "Error rate")):  # fmt: skip
        charts[label] = figures.bars([r["model_id"] for r in rows], [r[key] for r in rows], label)
    return {"all_models": names, "chosen": chosen, "rows": rows, "charts": charts}

"""What each dashboard page shows, from the same query functions as the JSON API.

A page is a dict of KPIs, tables and Plotly figures; templates only render it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from llmpulse.query import custom_metrics, events, metrics
from llmpulse.query.aggregates import QUANTILE_LEVELS, aggregate, number
from llmpulse.query.filters import QueryError, Scope, iso_ms
from llmpulse.store.engine import Engine
from llmpulse.web import figures

Row = dict[str, Any]
# A sensible bucket for each range length (seconds), keeping charts at 60-700 points.
_INTERVALS = ((3 * 3600, 60), (2 * 86400, 900), (10 * 86400, 3600), (None, 86400))


def interval_for(scope: Scope) -> int:
    span = (scope.end - scope.start).total_seconds()
    return next(seconds for limit, seconds in _INTERVALS if limit is None or span <= limit)


@dataclass
class Grid:
    """Aggregated rows by group name and bucket start (epoch ms), every bucket listed."""

    seconds: int  # bucket width
    buckets: list[int]
    groups: dict[str, dict[int, Row]]

    def series(self, value: Callable[[Row], Any]) -> figures.Series:
        """One series per group; a bucket without rows is None."""
        return {
            group: [
                (iso_ms(t), number(value(rows[t])) if t in rows else None) for t in self.buckets
            ]
            for group, rows in sorted(self.groups.items())
        }

    def by(self, name: Callable[[Row], str], sums: list[str]) -> Grid:
        """Regrouped by another name, summing the `sums` measures (sums only)."""
        out: dict[str, dict[int, Row]] = {}
        for rows in self.groups.values():
            for t, row in rows.items():
                target = out.setdefault(name(row), {}).setdefault(t, dict.fromkeys(sums, 0))
                for m in sums:
                    target[m] += row[m] or 0
        return Grid(self.seconds, self.buckets, out)


def grid(
    engine: Engine, scope: Scope, group_by: list[str], measures: list[str], bucket_s: int
) -> Grid:
    rows = aggregate(engine, scope, group_by, measures, bucket_s)
    buckets = metrics.Buckets.cover(scope, _interval_name(bucket_s)).starts_ms()
    groups: dict[str, dict[int, Row]] = {}
    for row in rows:
        groups.setdefault(_group_name(row, group_by), {})[row["t"]] = row
    return Grid(bucket_s, buckets, groups)


def _group_name(row: Row, group_by: list[str]) -> str:
    return " / ".join(str(row[k]) or "(none)" for k in group_by) or "all"


def _interval_name(seconds: int) -> str:
    return next(k for k, v in metrics.INTERVALS.items() if v == seconds)


def interval_name(scope: Scope) -> str:
    """The API's name of the bucket a chart of this range uses (1m, 15m, 1h, 1d)."""
    return _interval_name(interval_for(scope))


def _change(now: float | None, before: float | None) -> float | None:
    if now is None or not before:
        return None
    return (now - before) / before


def kpis(engine: Engine, scope: Scope, now_g: dict[str, Any]) -> list[dict[str, Any]]:
    """Headline numbers (`now_g`: the scope's summary) with their change against the
    previous period of the same length."""
    length = scope.end - scope.start
    before = replace(scope, start=scope.start - length, end=scope.start)
    hours = length.total_seconds() / 3600
    cards: list[dict[str, Any]] = []
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
    unpriced = now_g["unpriced"]
    for key, label, unit, read in readers:
        value, previous = read(now_g), read(then_g)
        note = f"excludes {unpriced:,} unpriced calls" if unit == "$" and unpriced else None
        cards.append(
            {"key": key, "label": label, "unit": unit, "value": value,
             "change": _change(value, previous), "note": note}
        )  # fmt: skip
    return cards


def overview(engine: Engine, scope: Scope, custom: str | None = None) -> dict[str, Any]:
    """The overview's KPIs and charts; `custom` names a custom metric charted beside them."""
    bucket = interval_for(scope)
    sums = ["requests", "tokens_in", "tokens_out", "cost_usd"]
    by_model = grid(
        engine, scope, ["model_id"], [*sums, "latency_q", "ttft_q", "tps_tokens", "tps_ms"], bucket
    )
    overall = by_model.by(lambda r: "all", sums)
    latency: figures.Series = {}
    for level in QUANTILE_LEVELS:
        named = by_model.series(metrics.quantile_of("latency_q", level))
        latency.update({f"{m} p{round(level * 100)}": pts for m, pts in named.items()})
    tokens = overall.series(
        lambda r: metrics.ratio(r["tokens_in"] + r["tokens_out"], r["requests"])
    )
    models, total = metrics.summary_groups(engine, scope, ["model_id"])
    return {
        "kpis": kpis(engine, scope, total),
        "models": models,
        "charts": {
            "Latency p50 (solid) / p95 (dash) / p99 (dot) by model": latency_figure(latency),
            "Time to first token p95 by model": figures.lines(
                by_model.series(metrics.quantile_of("ttft_q", 0.95)), "ms"
            ),
            "Tokens per second by model": figures.lines(
                by_model.series(lambda r: metrics.ratio(r["tps_tokens"] * 1000, r["tps_ms"])),
                "tokens/s",
            ),
            "Requests per minute by model": figures.lines(
                by_model.series(lambda r: r["requests"] * 60 / bucket), "requests/min"
            ),
            "Average tokens per request": figures.lines(tokens, "tokens"),
            "Cost per hour": figures.stacked_bars(
                overall.series(lambda r: r["cost_usd"] * 3600 / bucket), "USD/hour"
            ),
            "Error rate by error type": error_rate_by(engine, scope, "error_type", overall),
            **custom_chart(engine, scope, custom),
        },
        "custom_metrics": custom_metrics.catalog(engine, _window(scope))["metrics"],
    }


def _window(scope: Scope) -> Scope:
    """The scope's project and range alone: other tables have no call dimensions."""
    return Scope(scope.project, scope.start, scope.end)


# The aggregation a custom metric is charted by, per type.
CHART_AGG = {"gauge": "avg", "counter": "rate", "histogram": "p95"}


def custom_chart(engine: Engine, scope: Scope, name: str | None) -> dict[str, figures.Figure]:
    """A custom metric's chart (by its type's natural aggregation), or none."""
    if not name:
        return {}
    try:
        kind = custom_metrics.metric_type(engine, scope.project, name)
        found = custom_metrics.series(
            engine, _window(scope), name, CHART_AGG[kind], interval_name(scope), {}, None
        )
    except QueryError:
        return {}
    points = {name: [(p["t"], p["value"]) for s in found["series"] for p in s["points"]]}
    title = f"{name} ({found['agg']}{', ' + found['unit'] if found['unit'] else ''})"
    return {title: figures.lines(points, found["unit"] or found["agg"])}


def latency_figure(latency: figures.Series) -> figures.Figure:
    figure = figures.lines(latency, "ms (log scale)", figures.DASHES)
    figure["layout"]["yaxis"].update(type="log", rangemode="normal")
    return figure


def error_rate_by(engine: Engine, scope: Scope, dimension: str, totals: Grid) -> figures.Figure:
    """Errors of each kind (or model) as a share of all calls in each bucket; `totals` has
    the requests per bucket (group 'all')."""
    failed = replace(scope, filters={**scope.filters, "status": ["error"]})
    errors = grid(engine, failed, [dimension], ["errors"], totals.seconds)
    requests = totals.groups.get("all", {})
    rates: figures.Series = {}
    for name, rows in sorted(errors.groups.items()):
        rates[name] = []
        for t in totals.buckets:
            total = requests[t]["requests"] if t in requests else 0
            failed_n = rows[t]["errors"] if t in rows else 0
            rates[name].append((iso_ms(t), metrics.ratio(failed_n, total)))
    figure = figures.lines(rates, "share of calls")
    figure["layout"]["yaxis"]["tickformat"] = ".1%"
    return figure


def errors_page(engine: Engine, scope: Scope) -> dict[str, Any]:
    totals = grid(engine, scope, [], ["requests"], interval_for(scope))
    return {
        "charts": {
            "Error rate by error type": error_rate_by(engine, scope, "error_type", totals),
            "Error rate by model": error_rate_by(engine, scope, "model_id", totals),
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
    sums = ["requests", "cost_usd", "unpriced"]
    dims = [d for d, _ in COST_DIMENSIONS if d != "user_id"]
    if bucket % 3600:
        # Finer than the hourly rollups: one raw scan for every breakdown at once.
        combined = grid(engine, scope, dims, sums, bucket)
        by_dim = {d: combined.by(_named_by(d), sums) for d in dims}
    else:
        by_dim = {d: grid(engine, scope, [d], sums, bucket) for d in dims}
    # Thousands of users: chart the 10 that cost most.
    totals = aggregate(engine, scope, ["user_id"], ["cost_usd"])
    top = [r["user_id"] for r in sorted(totals, key=lambda r: -r["cost_usd"])[:10]]
    top_users = replace(scope, filters={**scope.filters, "user_id": top})
    by_dim["user_id"] = grid(engine, top_users, ["user_id"], ["cost_usd"], bucket)
    charts = {
        f"Cost by {label}": figures.stacked_bars(
            by_dim[dimension].series(lambda r: r["cost_usd"]), "USD"
        )
        for dimension, label in COST_DIMENSIONS
    }
    by_model = []
    for model, rows in by_dim["model_id"].groups.items():
        requests = sum(r["requests"] for r in rows.values())
        cost = sum(r["cost_usd"] for r in rows.values())
        unpriced = sum(r["unpriced"] for r in rows.values())
        by_model.append({"model_id": model, "requests": requests, "cost_usd": cost,
                         "cost_per_request": metrics.ratio(cost, requests - unpriced),
                         "unpriced": unpriced})  # fmt: skip
    by_model.sort(key=lambda m: -m["cost_usd"])
    return {
        "charts": charts,
        "unpriced": events.unpriced_models(engine, scope)["models"],
        "cost_by_model": by_model,
    }


def _named_by(dimension: str) -> Callable[[Row], str]:
    return lambda r: r[dimension] or "(none)"


def users_page(engine: Engine, scope: Scope) -> dict[str, Any]:
    measures = ["requests", "errors", "tokens_in", "tokens_out", "cost_usd", "unpriced"]
    users = aggregate(engine, scope, ["user_id"], measures)
    return {
        "top_by_requests": sorted(users, key=lambda r: -r["requests"])[:20],
        "top_by_cost": sorted(users, key=lambda r: -r["cost_usd"])[:20],
        "sessions": events.sessions(engine, scope, 100)["sessions"],
    }


def session_page(engine: Engine, scope: Scope, session_id: str) -> dict[str, Any]:
    chosen = replace(scope, filters={**scope.filters, "session_id": [session_id]})
    calls = events.list_requests(engine, chosen, 500)[0][::-1]
    return {
        "session_id": session_id,
        "calls": calls,
        "charts": {"timeline": figures.timeline(calls)},
    }


def models_page(engine: Engine, scope: Scope, chosen: list[str]) -> dict[str, Any]:
    all_models = metrics.summary(engine, replace(scope, filters={}), ["model_id"])["groups"]
    names = [g["key"]["model_id"] for g in all_models]
    chosen = [m for m in chosen if m in names][:4] or names[:2]
    picked = replace(scope, filters={**scope.filters, "model_id": chosen})
    compared = events.compare_models(engine, picked)
    summary = {g["key"]["model_id"]: g for g in compared["summary"]}
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
                # Over priced calls only: an unpriced call's cost is unknown, not $0.
                "cost_per_request": metrics.ratio(g["cost_usd"], g["requests"] - g["unpriced"]),
                "cost_per_1k_tokens": (
                    None if g["unpriced"] else metrics.ratio(g["cost_usd"] * 1000, tokens)
                ),
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

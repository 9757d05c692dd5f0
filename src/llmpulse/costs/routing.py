"""Failover advice: when each provider fails (error and rate-limit rates, p95 latency by
hour of day), and for each feature's model a fallback rule replayed on stored calls.

The rule: "route feature F's calls to M2 while M1's error rate over the previous window
exceeded X". Replayed window by window over the period, it would have moved the calls of
every window after a bad one; the errors avoided are those calls' errors at M1 less the
errors M2 would have made at its own error rate in F, and the cost delta is the same calls
re-priced at M2 less what they cost. Judging by the previous window only is what a router
can know when it decides; the best of a few thresholds is shown, with all of them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

from llmpulse.costs.prices_now import Pricing
from llmpulse.costs.recommend import By, link, models_in
from llmpulse.query.aggregates import PRICED_TOKENS, aggregate
from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS

THRESHOLDS: Final[tuple[float, ...]] = (0.05, 0.1, 0.2, 0.3)
MIN_FALLBACK_CALLS: Final = 50  # of the fallback in the feature, for its error rate


@dataclass(frozen=True)
class Options:
    by: By = "feature"
    window_s: int = 3600
    thresholds: tuple[float, ...] = THRESHOLDS
    min_calls: int = 20  # in the previous window, for its error rate to count


def advice(engine: Engine, scope: Scope, pricing: Pricing, options: Options) -> dict[str, Any]:
    return {
        "window_s": options.window_s,
        "providers": providers(engine, scope, options),
        "routes": routes(engine, scope, pricing, options),
    }


def providers(engine: Engine, scope: Scope, options: Options) -> list[dict[str, Any]]:
    """Each provider's calls, errors, rate limits and p95 latency by hour of day (UTC)."""
    where, params = scope.where()
    rows = engine.rows(
        f"""
        SELECT e.provider AS p, toHour(e.ts) AS h, count() AS n,
            countIf(e.status = 'error') AS k, countIf(e.error_type = 'rate_limit') AS rl,
            quantile(0.95)(e.latency_ms) AS p95
        FROM {EVENTS} AS e WHERE {where} GROUP BY p, h ORDER BY p, h
        """,
        params,
    )
    by_provider: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        n = int(r["n"])
        hour = {"hour": r["h"], "calls": n, "error_rate": r["k"] / n,
                "rate_limit_rate": r["rl"] / n, "latency_p95": r["p95"],
                "errors": int(r["k"]), "rate_limits": int(r["rl"])}  # fmt: skip
        by_provider[r["p"]].append(hour)
    out = []
    for provider, hours in sorted(by_provider.items()):
        calls = sum(h["calls"] for h in hours)
        judged = [h for h in hours if h["calls"] >= options.min_calls]
        worst = sorted(judged, key=lambda h: -h["error_rate"])[:3]
        out.append(
            {
                "provider": provider,
                "calls": calls,
                "error_rate": sum(h["errors"] for h in hours) / calls,
                "rate_limit_rate": sum(h["rate_limits"] for h in hours) / calls,
                "by_hour": hours,
                "worst_hours": [h["hour"] for h in worst if h["errors"]],
            }
        )
    return out


@dataclass
class _Window:
    calls: int = 0
    errors: int = 0
    # Per fallback: the priced calls at its price less what they cost.
    delta: dict[str, float] = field(default_factory=lambda: defaultdict(float))


@dataclass
class _Series:
    """One model's calls in one feature, window by window."""

    calls: int = 0
    errors: int = 0
    windows: dict[int, _Window] = field(default_factory=lambda: defaultdict(_Window))


def routes(
    engine: Engine, scope: Scope, pricing: Pricing, options: Options
) -> list[dict[str, Any]]:
    repricer = pricing.repricer(scope.project, models_in(engine, scope))
    names = sorted(repricer.schedules)
    measures = ["requests", "errors", "cost_usd", "priced", *PRICED_TOKENS]
    keys = [options.by, "model_id", "price_band"]
    series: dict[tuple[str, str], _Series] = defaultdict(_Series)
    for r in aggregate(engine, scope, keys, measures, bucket_s=options.window_s):
        s = series[(r[options.by], r["model_id"])]
        window = s.windows[r["t"] // 1000]
        for target in (s, window):
            target.calls += int(r["requests"])
            target.errors += int(r["errors"])
        for fallback in names:
            window.delta[fallback] += repricer.cost(fallback, r["price_band"], r) - float(
                r["cost_usd"]
            )
    out = []
    for (group, primary), s in sorted(series.items()):
        if not s.errors:
            continue
        for fallback in names:
            backup = series.get((group, fallback))
            if fallback == primary or backup is None or backup.calls < MIN_FALLBACK_CALLS:
                continue
            found = _replay(s, fallback, backup.errors / backup.calls, options)
            best = max(found, key=lambda f: f["errors_avoided"])
            if best["errors_avoided"] <= 0:
                continue
            out.append(
                {
                    options.by: group,
                    "model_id": primary,
                    "fallback": fallback,
                    **best,
                    "errors_share": best["errors_avoided"] / s.errors,
                    "fallback_error_rate": backup.errors / backup.calls,
                    "thresholds": found,
                    "events": link(scope, **{options.by: group, "model_id": primary}),
                }
            )
    out.sort(key=lambda r: -r["errors_avoided"])
    return out


def _replay(
    s: _Series, fallback: str, fallback_rate: float, options: Options
) -> list[dict[str, Any]]:
    found = []
    for threshold in options.thresholds:
        windows = calls = 0
        avoided = delta = 0.0
        for w, window in s.windows.items():
            before = s.windows.get(w - options.window_s)
            if before is None or before.calls < options.min_calls:
                continue  # the previous window's error rate is not known well enough
            if before.errors / before.calls <= threshold:
                continue
            windows += 1
            calls += window.calls
            avoided += window.errors - window.calls * fallback_rate
            delta += window.delta[fallback]
        found.append({"threshold": threshold, "windows_routed": windows, "calls_routed": calls,
                      "errors_avoided": avoided, "cost_delta_usd": delta})  # fmt: skip
    return found

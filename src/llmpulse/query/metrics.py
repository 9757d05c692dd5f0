"""The metrics of the API: summary by group, and one metric as a time series.

tokens_per_s is output tokens over generation time (latency minus TTFT, or latency when
TTFT is unknown), summed over successful calls that produced output in measurable time.
Percentiles come from DDSketch (see aggregates.py): within 0.5% of the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from llmpulse.query.aggregates import QUANTILE_LEVELS, SUMMARY_MEASURES, aggregate, number
from llmpulse.query.filters import QueryError, Scope, api_values, iso_ms
from llmpulse.store.engine import Engine

Row = dict[str, Any]


def ratio(top: Any, bottom: Any) -> float | None:
    """top / bottom, or None when there is nothing to divide by."""
    return top / bottom if bottom else None


def tokens_per_s(r: Row) -> float:
    """Output tokens per second of generation (0 when nothing was generated)."""
    return number(ratio(r["tps_tokens"] * 1000, r["tps_ms"])) or 0.0


def quantile_of(measure: str, level: float) -> Callable[[Row], Any]:
    """Reads one level of a merged quantiles measure (None when there were no values)."""
    index = QUANTILE_LEVELS.index(level)
    return lambda r: r[measure][index] if r[measure] else None


# metric -> (measures it needs, its value from a merged row, value of an empty bucket)
TIMESERIES_METRICS: Final[dict[str, tuple[list[str], Callable[[Row], Any], float | None]]] = {
    "requests": (["requests"], lambda r: r["requests"], 0),
    "errors": (["errors"], lambda r: r["errors"], 0),
    "error_rate": (["requests", "errors"], lambda r: ratio(r["errors"], r["requests"]), 0),
    "latency_p50": (["latency_q"], quantile_of("latency_q", 0.5), None),
    "latency_p95": (["latency_q"], quantile_of("latency_q", 0.95), None),
    "latency_p99": (["latency_q"], quantile_of("latency_q", 0.99), None),
    "ttft_p95": (["ttft_q"], quantile_of("ttft_q", 0.95), None),
    "tokens_per_s": (["tps_tokens", "tps_ms"], tokens_per_s, 0),
    "tokens": (["tokens_in", "tokens_out"], lambda r: r["tokens_in"] + r["tokens_out"], 0),
    "cost_usd": (["cost_usd"], lambda r: r["cost_usd"], 0),
}
INTERVALS: Final = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
MAX_POINTS: Final = 10_000


def _distribution(quantiles: list[Any] | None, total: Any, count: Any) -> dict[str, Any]:
    points = quantiles or [None] * len(QUANTILE_LEVELS)
    result = {"avg": number(ratio(total, count))}
    for level, value in zip(QUANTILE_LEVELS, points, strict=True):
        result[f"p{round(level * 100)}"] = number(value)
    return result


def summary(engine: Engine, scope: Scope, group_by: list[str]) -> dict[str, Any]:
    return {"groups": summary_groups(engine, scope, group_by)[0]}


def summary_groups(
    engine: Engine, scope: Scope, group_by: list[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The summary's groups, and (in the same scan) the group over everything."""
    rows = aggregate(engine, scope, group_by, SUMMARY_MEASURES, with_total=bool(group_by))
    if not group_by:  # an aggregate without GROUP BY always answers one row
        everything = _group(rows[0], [])
        return [everything], everything
    totals = [_group(r, []) for r in rows if r["is_total"]]
    groups = [_group(r, group_by) for r in rows if not r["is_total"] and r["requests"]]
    groups.sort(key=lambda g: (-g["requests"], sorted(g["key"].items())))
    return groups, totals[0] if totals and totals[0]["requests"] else _EMPTY


def _group(r: dict[str, Any], group_by: list[str]) -> dict[str, Any]:
    return {
        "key": api_values({k: r[k] for k in group_by}),
        "requests": r["requests"],
        "errors": r["errors"],
        "error_rate": ratio(r["errors"], r["requests"]) or 0.0,
        "latency_ms": _distribution(r["latency_q"], r["latency_sum"], r["requests"]),
        "ttft_ms": _distribution(r["ttft_q"], r["ttft_sum"], r["ttft_count"]),
        "tokens_in": r["tokens_in"],
        "tokens_out": r["tokens_out"],
        "tokens_per_s": tokens_per_s(r),
        "cost_usd": number(r["cost_usd"]) or 0.0,
        "unpriced": r["unpriced"],
    }


_EMPTY: Final[dict[str, Any]] = {
    "key": {},
    "requests": 0,
    "errors": 0,
    "error_rate": 0.0,
    "latency_ms": {"avg": None, "p50": None, "p95": None, "p99": None},
    "ttft_ms": {"avg": None, "p50": None, "p95": None, "p99": None},
    "tokens_in": 0,
    "tokens_out": 0,
    "tokens_per_s": 0.0,
    "cost_usd": 0.0,
    "unpriced": 0,
}


@dataclass(frozen=True)
class Buckets:
    seconds: int
    first_ms: int
    count: int

    @classmethod
    def cover(cls, scope: Scope, interval: str) -> Buckets:
        if interval not in INTERVALS:
            raise QueryError("interval", f"use one of {', '.join(INTERVALS)}")
        seconds = INTERVALS[interval]
        first = math.floor(scope.start.timestamp() / seconds) * seconds
        count = math.ceil((scope.end.timestamp() - first) / seconds)
        if count > MAX_POINTS:
            raise QueryError(
                "interval", f"{interval} over this range makes {count} points (max {MAX_POINTS})"
            )
        return cls(seconds, first * 1000, count)

    def starts_ms(self) -> list[int]:
        return [self.first_ms + i * self.seconds * 1000 for i in range(self.count)]


def timeseries(
    engine: Engine, scope: Scope, metric: str, interval: str, group_by: list[str]
) -> dict[str, Any]:
    if metric not in TIMESERIES_METRICS:
        known = ", ".join(TIMESERIES_METRICS)
        raise QueryError("metric", f"unknown metric {metric!r}; one of {known}")
    measures, value_of, empty = TIMESERIES_METRICS[metric]
    buckets = Buckets.cover(scope, interval)
    series: dict[tuple[str, ...], dict[int, Any]] = {}
    for row in aggregate(engine, scope, group_by, measures, buckets.seconds):
        key = tuple(row[k] for k in group_by)
        series.setdefault(key, {})[row["t"]] = number(value_of(row))
    if not group_by and not series:
        series[()] = {}
    starts = buckets.starts_ms()
    out = []
    for key, values in sorted(series.items()):
        points = [{"t": iso_ms(t), "value": values.get(t, empty)} for t in starts]
        out.append({"key": api_values(dict(zip(group_by, key, strict=True))), "points": points})
    return {"metric": metric, "interval": interval, "series": out}

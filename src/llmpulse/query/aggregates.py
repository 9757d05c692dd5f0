"""Aggregates over events, read from an hourly rollup where one can answer.

Every metric is built from mergeable partial aggregates ("measures"). A query reads the
whole hours of its range from a rollup and the partial hours at its edges from
`llm_events`, then merges both: the same numbers as a scan of the raw table, at a
fraction of the cost over long ranges. `llm_rollup_1h` keeps every measure by the main
low-cardinality dimensions; `llm_dimension_rollup_1h` keeps sums by one other dimension
at a time (prompt version, variant, region, client, user). Anything else (sessions,
filters on those dimensions, series finer than an hour) reads `llm_events` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine
from llmpulse.store.tables import COST_ROLLUP_1H, DIMENSION_ROLLUP_1H, EVENTS, ROLLUP_1H

ROLLUP_SECONDS: Final = 3600
ROLLUP_DIMENSIONS: Final = frozenset(
    ("model_id", "provider", "status", "error_type", "environment", "operation")
)
# DDSketch with 0.5% relative accuracy: inside the API's 1% promise, and cheap to merge.
QUANTILE_LEVELS: Final = (0.5, 0.95, 0.99)
_DD_ARGS = "(0.005, 0.5, 0.95, 0.99)"
# Latency histogram: 64 log-spaced bins, each 28% wider than the last, from 1 ms to ~2
# hours; bin i starts at exp(i / LATENCY_BINS_PER_E) ms. Mirrors 002_rollup_1h.sql.
LATENCY_BINS_PER_E: Final = 4.0
LATENCY_BIN_COUNT: Final = 64
LATENCY_BIN: Final = (
    f"least({LATENCY_BIN_COUNT - 1}, floor({LATENCY_BINS_PER_E} * log(greatest(e.latency_ms, 1))))"
)
# Columns are qualified (e.) because some measures are named like columns (tokens_out):
# unqualified, ClickHouse would read the alias.
GEN_MS = "(e.latency_ms - ifNull(e.ttft_ms, 0))"
TPS_OK = f"e.status = 'ok' AND e.tokens_out > 0 AND {GEN_MS} > 0"


@dataclass(frozen=True)
class Measure:
    raw: str  # partial aggregate over llm_events rows, of the rollup column's type
    merge: str  # final aggregate over partials; {c} is the measure's column


# A call's tokens by kind: cached within input, reasoning within output (Rates.price).
_CACHED = "least(e.tokens_cached, e.tokens_in)"
_REASONING = "least(e.tokens_reasoning, e.tokens_out)"
PRICED_TOKENS: Final = {
    "priced_uncached": f"toInt64(e.tokens_in) - {_CACHED}",
    "priced_cached": _CACHED,
    "priced_plain": f"toInt64(e.tokens_out) - {_REASONING}",
    "priced_reasoning": _REASONING,
}
# Every tier start of the genai-prices catalogue: `price_band` (012_cost_rollup.sql) counts
# those below a call's prompt size.
BAND_EDGES: Final = (32000, 100000, 128000, 199999, 200000, 256000, 272000, 512000, 524288)


def _sum(raw: str) -> Measure:
    return Measure(raw, "sum({c})")


def _quantiles(column: str) -> Measure:
    return Measure(f"quantilesDDState{_DD_ARGS}({column})", f"quantilesDDMerge{_DD_ARGS}({{c}})")


# Mirrors the columns of llm_rollup_1h (store/migrations/002_rollup_1h.sql).
MEASURES: Final[dict[str, Measure]] = {
    "requests": _sum("count()"),
    "errors": _sum("countIf(e.status = 'error')"),
    "latency_sum": _sum("sum(e.latency_ms)"),
    "latency_q": _quantiles("e.latency_ms"),
    "ttft_sum": _sum("sum(ifNull(e.ttft_ms, 0))"),
    "ttft_count": _sum("count(e.ttft_ms)"),
    "ttft_q": _quantiles("e.ttft_ms"),
    "tokens_in": _sum("sum(e.tokens_in)"),
    "tokens_out": _sum("sum(e.tokens_out)"),
    "tps_tokens": _sum(f"sumIf(e.tokens_out, {TPS_OK})"),
    "tps_ms": _sum(f"sumIf({GEN_MS}, {TPS_OK})"),
    "cost_usd": _sum("sum(ifNull(e.cost_usd, 0))"),
    # Signed, as in the rollups: a re-costing corrects them by a difference (011_cost_source).
    "unpriced": _sum("toInt64(countIf(e.cost_source = 'unpriced'))"),
    "latency_bins": Measure(f"sumMap(map(toUInt8({LATENCY_BIN}), toUInt64(1)))", "sumMap({c})"),
    # Priced calls and their tokens by kind, to re-price them (the cost rollup's).
    "priced": _sum("toInt64(count(e.cost_usd))"),
    **{
        name: _sum(f"toInt64(sumIf({tokens}, e.cost_usd IS NOT NULL))")
        for name, tokens in PRICED_TOKENS.items()
    },
}
# What a summary reads: every measure but the histogram.
SUMMARY_MEASURES: Final = [m for m in MEASURES if m != "latency_bins"]


def number(value: Any) -> Any:
    """SQL NULL/NaN/inf (an empty aggregate) as None; counts stay ints."""
    if value is None or isinstance(value, int):
        return value
    result = float(value)
    return result if math.isfinite(result) else None


@dataclass(frozen=True)
class Rollup:
    """An hourly rollup table and what it can answer."""

    table: str
    dimensions: frozenset[str]
    measures: frozenset[str]
    # One row per (dimension, value): one key, filtered on that key alone.
    single_dimension: bool = False

    def answers(self, scope: Scope, group_by: list[str], measures: list[str]) -> bool:
        if not set(measures) <= self.measures:
            return False
        if self.single_dimension:
            return (
                len(group_by) == 1
                and group_by[0] in self.dimensions
                and set(scope.filters) <= {group_by[0]}
            )
        return set(group_by) | set(scope.filters) <= self.dimensions

    def key(self, dimension: str) -> str:
        return f"value AS {dimension}" if self.single_dimension else dimension

    def where(self, hours: Scope, group_by: list[str]) -> tuple[str, dict[str, Any]]:
        if not self.single_dimension:
            return hours.where("hour", prefix="roll_")
        dimension = group_by[0]
        where, params = replace(hours, filters={}).where("hour", prefix="roll_")
        where += " AND dimension = {roll_dimension:String}"
        params["roll_dimension"] = dimension
        if dimension in hours.filters:
            where += " AND value IN {roll_values:Array(String)}"
            params["roll_values"] = hours.filters[dimension]
        return where, params


_SUMS = frozenset(
    ("requests", "errors", "latency_sum", "tokens_in", "tokens_out", "cost_usd", "unpriced")
)
# Tried in order. Columns mirror store/migrations/002_rollup_1h.sql, 003_....sql, 012_....sql.
ROLLUPS: Final = (
    Rollup(ROLLUP_1H, ROLLUP_DIMENSIONS, frozenset(MEASURES) - {"priced", *PRICED_TOKENS}),
    Rollup(
        DIMENSION_ROLLUP_1H,
        frozenset(
            (
                "prompt_version",
                "feature",
                "experiment_name",
                "experiment_variant",
                "region",
                "client_app",
                "client_os",
                "model_version",
                "user_id",
            )
        ),
        _SUMS,
        single_dimension=True,
    ),
    Rollup(
        COST_ROLLUP_1H,
        frozenset(("feature", "prompt_version", "model_id", "provider", "price_band")),
        frozenset(("requests", "errors", "cost_usd", "unpriced", "priced", *PRICED_TOKENS)),
    ),
)


def _rollup_for(
    scope: Scope, group_by: list[str], measures: list[str], bucket_s: int | None
) -> tuple[Rollup | None, int, int]:
    """The rollup that can answer, and the whole hours [a, b) of the scope it covers."""
    if bucket_s is not None and bucket_s % ROLLUP_SECONDS:
        return None, 0, 0
    rollup = next((r for r in ROLLUPS if r.answers(scope, group_by, measures)), None)
    start, end = scope.start.timestamp(), scope.end.timestamp()
    first = math.ceil(start / ROLLUP_SECONDS) * ROLLUP_SECONDS
    last = math.floor(end / ROLLUP_SECONDS) * ROLLUP_SECONDS
    return rollup, first, last


def aggregate(
    engine: Engine,
    scope: Scope,
    group_by: list[str],
    measures: list[str],
    bucket_s: int | None = None,
    with_total: bool = False,
) -> list[dict[str, Any]]:
    """One row per group (and per time bucket `t`, epoch ms, when bucket_s is given), with
    each measure merged to its final value. `with_total` adds, in the same scan, the row
    over all groups, marked `is_total = 1` (no buckets)."""
    rollup, a, b = _rollup_for(scope, group_by, measures, bucket_s)
    raw_keys, keys, select = list(group_by), list(group_by), list(group_by)
    roll_keys = [rollup.key(k) for k in group_by] if rollup else []
    if bucket_s is not None:
        raw_keys.append(f"toStartOfInterval(ts, toIntervalSecond({bucket_s})) AS bucket")
        roll_keys.append(f"toStartOfInterval(hour, toIntervalSecond({bucket_s})) AS bucket")
        keys.append("bucket")
        select.append("toUnixTimestamp(bucket) * 1000 AS t")
    raw_where, params = scope.where()
    parts = []
    if rollup is not None and a < b:
        hours = replace(scope, start=_at(a), end=_at(b))
        roll_where, roll_params = rollup.where(hours, group_by)
        params.update(roll_params)
        raw_where += (
            " AND (ts < {roll_start:DateTime64(3, 'UTC')} OR ts >= {roll_end:DateTime64(3, 'UTC')})"
        )
        parts.append(
            f"SELECT {', '.join(roll_keys + measures)} FROM {rollup.table} WHERE {roll_where}"
        )
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    raw_cols = [f"{MEASURES[m].raw} AS {m}" for m in measures]
    parts.append(
        f"SELECT {', '.join(raw_keys + raw_cols)} FROM {EVENTS} AS e WHERE {raw_where}{group}"
    )
    merged = [f"{MEASURES[m].merge.format(c=m)} AS {m}" for m in measures]
    if with_total and group_by and bucket_s is None:
        select.append(f"grouping({group_by[0]}) AS is_total")
        group = f" GROUP BY GROUPING SETS (({', '.join(keys)}), ())"
    sql = f"SELECT {', '.join(select + merged)} FROM ({' UNION ALL '.join(parts)}){group}"
    return engine.rows(sql, params)


def _at(epoch_s: int) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)

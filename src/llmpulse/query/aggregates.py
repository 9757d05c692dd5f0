"""Aggregates over events, read from the hourly rollup where it can answer.

Every metric is built from mergeable partial aggregates ("measures"). A query reads the
whole hours of its range from `llm_rollup_1h` and the partial hours at its edges from
`llm_events`, then merges both: the same numbers as a scan of the raw table, at a
fraction of the cost over long ranges. Queries on dimensions the rollup does not keep
(user, session, region, ...), and series finer than an hour, read `llm_events` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine

EVENTS: Final = "llm_events"
ROLLUP: Final = "llm_rollup_1h"
ROLLUP_SECONDS: Final = 3600
ROLLUP_DIMENSIONS: Final = frozenset(
    ("model_id", "provider", "status", "error_type", "environment", "operation")
)
# DDSketch with 0.5% relative accuracy: inside the API's 1% promise, and cheap to merge.
QUANTILE_LEVELS: Final = (0.5, 0.95, 0.99)
_DD_ARGS = "(0.005, 0.5, 0.95, 0.99)"
# Columns are qualified (e.) because some measures are named like columns (tokens_out):
# unqualified, ClickHouse would read the alias.
_GEN_MS = "(e.latency_ms - ifNull(e.ttft_ms, 0))"
_TPS_OK = f"e.status = 'ok' AND e.tokens_out > 0 AND {_GEN_MS} > 0"


@dataclass(frozen=True)
class Measure:
    raw: str  # partial aggregate over llm_events rows, of the rollup column's type
    merge: str  # final aggregate over partials; {c} is the measure's column


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
    "tps_tokens": _sum(f"sumIf(e.tokens_out, {_TPS_OK})"),
    "tps_ms": _sum(f"sumIf({_GEN_MS}, {_TPS_OK})"),
    "cost_usd": _sum("sum(ifNull(e.cost_usd, 0))"),
    "unpriced": _sum("countIf(e.cost_status = 'unpriced')"),
}


def number(value: Any) -> Any:
    """SQL NULL/NaN/inf (an empty aggregate) as None; counts stay ints."""
    if value is None or isinstance(value, int):
        return value
    result = float(value)
    return result if math.isfinite(result) else None


def _rollup_span(scope: Scope, group_by: list[str], bucket_s: int | None) -> tuple[int, int]:
    """The whole hours [a, b) of the scope that the rollup can answer (a >= b: none)."""
    dims = set(group_by) | set(scope.filters)
    if not dims <= ROLLUP_DIMENSIONS or (bucket_s is not None and bucket_s % ROLLUP_SECONDS):
        return 0, 0
    start, end = scope.start.timestamp(), scope.end.timestamp()
    return (
        math.ceil(start / ROLLUP_SECONDS) * ROLLUP_SECONDS,
        math.floor(end / ROLLUP_SECONDS) * ROLLUP_SECONDS,
    )


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
    raw_keys, roll_keys, keys = list(group_by), list(group_by), list(group_by)
    select = list(group_by)
    if bucket_s is not None:
        raw_keys.append(f"toStartOfInterval(ts, toIntervalSecond({bucket_s})) AS bucket")
        roll_keys.append(f"toStartOfInterval(hour, toIntervalSecond({bucket_s})) AS bucket")
        keys.append("bucket")
        select.append("toUnixTimestamp(bucket) * 1000 AS t")
    raw_where, params = scope.where()
    parts = []
    a, b = _rollup_span(scope, group_by, bucket_s)
    if a < b:
        hours = replace(scope, start=_at(a), end=_at(b))
        roll_where, roll_params = hours.where("hour", prefix="roll_")
        params.update(roll_params)
        raw_where += (
            " AND (ts < {roll_start:DateTime64(3, 'UTC')} OR ts >= {roll_end:DateTime64(3, 'UTC')})"
        )
        parts.append(f"SELECT {', '.join(roll_keys + measures)} FROM {ROLLUP} WHERE {roll_where}")
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

"""Custom metrics: the catalog of names, and one metric as a series per interval, by tags.

Counters and histograms sent with cumulative temporality (OTLP's default) are running
totals: each point's increment is its value minus the series' previous one (a drop is a
restart: the value itself; a series' first point counts whole), so every aggregation reads
increments whatever the exporter sent.
Histogram percentiles come from the merged buckets (linear within a bucket) when the
points carry buckets, from the observations themselves otherwise.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Final

from llmpulse.query.filters import QueryError, Scope, api_values, iso_ms
from llmpulse.query.metrics import Buckets
from llmpulse.store.engine import Engine, Param
from llmpulse.store.tables import METRICS

AGGREGATIONS: Final = {
    "gauge": ("avg", "min", "max", "sum", "count", "last", "p50", "p95", "p99"),
    "counter": ("sum", "rate", "count"),
    "histogram": ("avg", "sum", "count", "min", "max", "p50", "p95", "p99"),
}
_QUANTILES: Final = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
_TAG: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}")
# A cumulative series' increments are read against its previous point up to this long
# before the range; a series silent for longer (a restarted exporter) starts from zero.
LOOKBACK_S: Final = 86400
# Points in the range with their increments: `d` value, `dc` count, `db` bucket counts.
_POINTS: Final = """
SELECT * FROM (
    SELECT ts, tags, value, min, max, bounds,
        if(temporality = 'cumulative', if(value >= pv, value - pv, value), value) AS d,
        toUInt64(if(temporality = 'cumulative' AND count >= pc, count - pc, count)) AS dc,
        if(temporality = 'cumulative' AND length(bucket_counts) = length(pb)
           AND arrayAll((x, y) -> x >= y, bucket_counts, pb),
           arrayMap((x, y) -> toUInt64(x - y), bucket_counts, pb), bucket_counts) AS db
    FROM (
        SELECT *,
            lagInFrame(value, 1, 0) OVER w AS pv,
            lagInFrame(count, 1, 0) OVER w AS pc,
            lagInFrame(bucket_counts, 1, []) OVER w AS pb
        FROM {table} WHERE {where}
        WINDOW w AS (PARTITION BY cityHash64(mapKeys(tags), mapValues(tags)) ORDER BY ts
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    )
) WHERE ts >= {{range_start:DateTime64(3, 'UTC')}}
"""


def catalog(engine: Engine, scope: Scope) -> dict[str, Any]:
    """Every metric with points in the range: type, unit, points, tag keys, last value."""
    where, params = scope.where()
    rows = engine.rows(
        "SELECT name, any(type) AS type, any(unit) AS unit, count() AS points, "
        "arraySort(groupUniqArrayArray(mapKeys(tags))) AS tag_keys, "
        "argMax(value, ts) AS last_value, "
        "formatDateTime(max(ts), '%Y-%m-%dT%H:%i:%S.%fZ') AS last_seen "
        f"FROM {METRICS} WHERE {where} GROUP BY name ORDER BY name",
        params,
    )
    return {"metrics": rows}


def metric_type(engine: Engine, project: str, name: str) -> str:
    """The metric's type; 404 when the project has no metric of that name."""
    rows = engine.rows(
        f"SELECT any(type) AS type FROM {METRICS} WHERE project = {{project:String}} "
        "AND name = {name:String} HAVING count() > 0",
        {"project": project, "name": name},
    )
    if not rows:
        raise QueryError("name", f"no metric {name!r} in this project", 404)
    return str(rows[0]["type"])


def check_agg(engine: Engine, project: str, name: str, agg: str) -> str:
    """The metric's type, once `agg` is known to apply to it."""
    kind = metric_type(engine, project, name)
    if agg not in AGGREGATIONS[kind]:
        raise QueryError("agg", f"a {kind} aggregates by {', '.join(AGGREGATIONS[kind])}")
    return kind


def _points_where(
    scope: Scope, name: str, tags: dict[str, list[str]]
) -> tuple[str, dict[str, Param]]:
    """The WHERE of the metric's points from LOOKBACK_S before the range (see _POINTS)."""
    wide = Scope(scope.project, scope.start - timedelta(seconds=LOOKBACK_S), scope.end)
    where, params = wide.where()
    params["range_start"] = scope.start
    where += " AND name = {name:String}"
    params["name"] = name
    for i, (key, values) in enumerate(sorted(tags.items())):
        where += f" AND tags[{{k{i}:String}}] IN {{v{i}:Array(String)}}"
        params[f"k{i}"], params[f"v{i}"] = key, values
    return where, params


def parse_tags(values: list[str]) -> dict[str, list[str]]:
    """`key:value` filters (several values of one key: any of them)."""
    out: dict[str, list[str]] = {}
    for text in values:
        key, sep, value = text.partition(":")
        if not sep or not _TAG.fullmatch(key):
            raise QueryError("tag", f"{text!r}: write a tag filter as key:value")
        out.setdefault(key, []).append(value)
    return out


def series(
    engine: Engine,
    scope: Scope,
    name: str,
    agg: str,
    interval: str,
    tags: dict[str, list[str]],
    group_by: str | None,
) -> dict[str, Any]:
    kind = check_agg(engine, scope.project, name, agg)
    if group_by is not None and not _TAG.fullmatch(group_by):
        raise QueryError("group_by", "a tag name")
    where, params = _points_where(scope, name, tags)
    buckets = Buckets.cover(scope, interval)
    group = "tags[{group:String}]" if group_by else "''"
    if group_by:
        params["group"] = group_by
    rows = engine.rows(
        f"SELECT {group} AS g, toUnixTimestamp(toStartOfInterval(ts, INTERVAL "
        f"{buckets.seconds} SECOND)) * 1000 AS t, {_measure(kind, agg, buckets.seconds)} "
        f"FROM ({_POINTS.format(table=METRICS, where=where)}) GROUP BY g, t ORDER BY g, t",
        params,
    )
    found: dict[str, dict[int, float | None]] = {}
    for r in rows:
        found.setdefault(r["g"], {})[r["t"]] = _value(r, agg)
    empty = 0.0 if agg in ("sum", "count", "rate") else None
    out = [
        {
            "key": api_values({group_by: g}) if group_by else {},
            "points": [
                {"t": iso_ms(t), "value": values.get(t, empty)} for t in buckets.starts_ms()
            ],
        }
        for g, values in sorted(found.items())
    ]
    unit = engine.rows(
        f"SELECT any(unit) AS unit FROM {METRICS} WHERE project = {{project:String}} "
        "AND name = {name:String}",
        {"project": scope.project, "name": name},
    )[0]["unit"]
    return {"name": name, "type": kind, "unit": unit, "agg": agg,
            "interval": interval, "series": out}  # fmt: skip


def window_value(
    engine: Engine, scope: Scope, name: str, agg: str, tags: dict[str, list[str]]
) -> float | None:
    """The metric aggregated over the whole range (None without points): what a custom
    metric alert watches."""
    kind = check_agg(engine, scope.project, name, agg)
    where, params = _points_where(scope, name, tags)
    seconds = max(1, round((scope.end - scope.start).total_seconds()))
    rows = engine.rows(
        f"SELECT count() AS points, {_measure(kind, agg, seconds)} "
        f"FROM ({_POINTS.format(table=METRICS, where=where)})",
        params,
    )
    return _value(rows[0], agg) if rows and rows[0]["points"] else None


def _measure(kind: str, agg: str, seconds: int) -> str:
    if agg in _QUANTILES:
        level = _QUANTILES[agg]
        if kind == "histogram":
            # Merged buckets when there are any; the observations' quantile otherwise.
            return (
                f"quantile({level})(value) AS observed, sumForEach(db) AS merged, "
                f"argMax(bounds, length(bounds)) AS bucket_bounds, {level} AS level"
            )
        return f"quantile({level})(value) AS observed"
    if kind == "gauge":
        return {
            "avg": "avg(value)", "min": "min(value)", "max": "max(value)",
            "sum": "sum(value)", "count": "toFloat64(count())", "last": "argMax(value, ts)",
        }[agg] + " AS v"  # fmt: skip
    if kind == "counter":
        return {"sum": "sum(d)", "rate": f"sum(d) / {seconds}", "count": "toFloat64(count())"}[
            agg
        ] + " AS v"
    return {
        "avg": "if(sum(dc) = 0, NULL, sum(d) / sum(dc))", "sum": "sum(d)",
        "count": "toFloat64(sum(dc))", "min": "min(min)", "max": "max(max)",
    }[agg] + " AS v"  # fmt: skip


def _value(row: dict[str, Any], agg: str) -> float | None:
    if agg not in _QUANTILES:
        value = row["v"]
        return None if value is None else float(value)
    if row.get("bucket_bounds"):  # OTLP histograms: from their buckets alone
        return bucket_quantile(row["bucket_bounds"], row["merged"], row["level"])
    observed = row["observed"]
    return None if observed is None else float(observed)


def bucket_quantile(bounds: list[float], counts: list[int], level: float) -> float | None:
    """The quantile of explicit-bucket counts, linear within the bucket it falls in (as
    Prometheus's histogram_quantile): the open buckets at each end answer their bound."""
    total = sum(counts)
    if not total or len(counts) != len(bounds) + 1:
        return None
    rank = level * total
    seen = 0.0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i == 0:
                return float(bounds[0])
            if i == len(bounds):
                return float(bounds[-1])
            low, high = bounds[i - 1], bounds[i]
            return float(low + (high - low) * (rank - seen) / count)
        seen += count
    return float(bounds[-1])

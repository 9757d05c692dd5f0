"""The `metric` rule kind: a metric of the project's calls over a sliding window, per
group, read through the query layer (rollups over long windows, raw rows at the edges)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from llmpulse.alerts.kinds import Observation, register
from llmpulse.alerts.rules import Rule
from llmpulse.analytics.stats import wilson
from llmpulse.api.errors import FieldError
from llmpulse.query import durations
from llmpulse.query.aggregates import QUANTILE_LEVELS, aggregate, number
from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine, Param
from llmpulse.store.tables import EVENTS, REJECTED

Row = dict[str, Any]
# Where the cause of a firing instance is looked for (those the rule groups by excepted).
CAUSE_DIMENSIONS: Final = (
    "model_id",
    "provider",
    "prompt_version",
    "user_id",
    "error_type",
    "region",
    "environment",
)
EXAMPLES: Final = 5


def _ratio(top: Any, bottom: Any) -> float | None:
    return float(top) / float(bottom) if bottom else None


def _quantile(measure: str, level: float) -> Callable[[Row], float | None]:
    index = QUANTILE_LEVELS.index(level)
    return lambda r: number(r[measure][index]) if r[measure] else None


@dataclass(frozen=True)
class Metric:
    measures: tuple[str, ...]
    value: Callable[[Row], float | None]
    # (events counted, trials) of a rate, for the Wilson gate.
    rate: Callable[[Row], tuple[int, int]] | None = None
    # What one call contributes to the problem, as SQL over llm_events (`e.`), with the
    # crossed threshold as {threshold:Float64}: the measure a cause is searched with.
    weight: str | None = None


def _percentile(measure: str, column: str, level: float) -> Metric:
    return Metric(
        ("requests", measure),
        _quantile(measure, level),
        weight=f"toFloat64(ifNull(e.{column}, 0) > {{threshold:Float64}})",
    )


METRICS: Final[dict[str, Metric]] = {
    "error_rate": Metric(
        ("requests", "errors"),
        lambda r: _ratio(r["errors"], r["requests"]),
        rate=lambda r: (int(r["errors"]), int(r["requests"])),
        weight="toFloat64(e.status = 'error')",
    ),
    "unpriced_share": Metric(
        ("requests", "unpriced"),
        lambda r: _ratio(r["unpriced"], r["requests"]),
        rate=lambda r: (int(r["unpriced"]), int(r["requests"])),
        weight="toFloat64(e.cost_source = 'unpriced')",
    ),
    **{
        f"latency_p{round(q * 100)}": _percentile("latency_q", "latency_ms", q)
        for q in QUANTILE_LEVELS
    },
    **{f"ttft_p{round(q * 100)}": _percentile("ttft_q", "ttft_ms", q) for q in QUANTILE_LEVELS},
    "tokens_per_s": Metric(
        ("requests", "tps_tokens", "tps_ms"),
        lambda r: _ratio(r["tps_tokens"] * 1000, r["tps_ms"]),
    ),
    "cost_usd": Metric(
        ("requests", "cost_usd"), lambda r: number(r["cost_usd"]), weight="ifNull(e.cost_usd, 0)"
    ),
    "cost_per_call": Metric(
        ("requests", "cost_usd", "unpriced"),
        lambda r: _ratio(r["cost_usd"], r["requests"] - r["unpriced"]),
        weight="ifNull(e.cost_usd, 0)",
    ),
    "requests": Metric(("requests",), lambda r: float(r["requests"]), weight="1.0"),
    "tokens_in": Metric(
        ("requests", "tokens_in"), lambda r: float(r["tokens_in"]), weight="toFloat64(e.tokens_in)"
    ),
    "tokens_out": Metric(
        ("requests", "tokens_out"),
        lambda r: float(r["tokens_out"]),
        weight="toFloat64(e.tokens_out)",
    ),
}
# Counted from the dead-letter table, not from calls: no groups, no cause.
REJECTED_METRIC: Final = "rejected"
METRIC_NAMES: Final = (*METRICS, REJECTED_METRIC)
# Metrics that are zero, not missing, when no call came: "no data" does not apply.
COUNTS: Final = frozenset(("requests", "tokens_in", "tokens_out", "cost_usd", REJECTED_METRIC))


def observation(rule: Rule, row: Row) -> Observation:
    """A group's measures over a window as the rule sees them: the metric's value and, for
    a gated rate, the Wilson bound on the side that matters."""
    metric = METRICS[rule.metric]
    requests = int(row["requests"])
    value = metric.value(row) if requests else None
    if value is None and rule.metric in COUNTS:
        value = 0.0
    bound = None
    if rule.confidence is not None and metric.rate is not None and requests:
        low, high = wilson(*metric.rate(row), rule.confidence)
        bound = low if rule.comparison in (">", ">=") else high
    group = {k: str(row[k]) for k in rule.group_by}
    return Observation(group, value, requests, bound)


class MetricKind:
    name = "metric"

    def check(self, rule: Rule) -> None:
        if rule.metric not in METRIC_NAMES:
            raise FieldError(
                422, "metric", f"unknown metric {rule.metric!r}; one of {', '.join(METRIC_NAMES)}"
            )
        if rule.confidence is not None and (
            rule.metric not in METRICS or METRICS[rule.metric].rate is None
        ):
            rates = ", ".join(m for m, d in METRICS.items() if d.rate)
            raise FieldError(422, "confidence", f"applies to rate metrics only: {rates}")
        if rule.metric == REJECTED_METRIC and (rule.group_by or rule.filters):
            raise FieldError(422, "group_by", "rejected events have no dimensions to group by")
        unknown = set(rule.params) - {"baseline"}
        if unknown:
            raise FieldError(422, "params", f"unknown {', '.join(sorted(unknown))}: use baseline")
        # Longer than the window: the usual value must not be the window's own.
        rule.param_seconds("baseline", None, rule.window_s + 1, 30 * 86400)

    def observe(self, engine: Engine, project: str, rule: Rule, end: datetime) -> list[Observation]:
        scope = Scope(project, end - timedelta(seconds=rule.window_s), end, rule.filters)
        if rule.metric == REJECTED_METRIC:
            where, params = Scope(project, scope.start, scope.end).where("received_at")
            rows = engine.rows(f"SELECT count() AS n FROM {REJECTED} WHERE {where}", params)
            return [Observation({}, float(rows[0]["n"]))]
        rows = aggregate(engine, scope, rule.group_by, list(METRICS[rule.metric].measures))
        seen = [observation(rule, row) for row in rows]
        baseline = rule.params.get("baseline")
        return self._against(engine, project, rule, seen, end, baseline) if baseline else seen

    def _against(
        self,
        engine: Engine,
        project: str,
        rule: Rule,
        seen: list[Observation],
        end: datetime,
        baseline: str,
    ) -> list[Observation]:
        """`seen` with each group's value over the baseline period before the window (a
        sum scaled to the window's length), so thresholds read as multiples of usual."""
        length = durations.seconds(baseline)
        before = end - timedelta(seconds=rule.window_s)
        scope = Scope(project, before - timedelta(seconds=length), before, rule.filters)
        rows = aggregate(engine, scope, rule.group_by, list(METRICS[rule.metric].measures))
        usual = {
            tuple(sorted(o.group.items())): o.value
            for o in (observation(rule, row) for row in rows)
        }
        scale = rule.window_s / length if rule.metric in COUNTS else 1.0
        out = []
        for o in seen:
            value = usual.get(tuple(sorted(o.group.items())))
            out.append(replace(o, baseline=None if value is None else value * scale))
        return out

    def explain(
        self, engine: Engine, project: str, rule: Rule, seen: Observation, end: datetime
    ) -> dict[str, Any] | None:
        metric = METRICS.get(rule.metric)
        if metric is None or metric.weight is None:
            return None
        window = timedelta(seconds=rule.window_s)
        filters = {**rule.filters, **{k: [v] for k, v in seen.group.items()}}
        both = Scope(project, end - 2 * window, end, filters)
        where, params = both.where()
        threshold = rule.critical if rule.critical is not None else rule.warning
        params.update(threshold=float(threshold or 0), now_start=end - window)
        dims = [d for d in CAUSE_DIMENSIONS if d not in seen.group]
        pairs = ", ".join(f"('{d}', toString(e.{d}))" for d in dims)
        now = "ts >= {now_start:DateTime64(3, 'UTC')}"
        rows = engine.rows(
            f"""
            SELECT d.1 AS dimension, d.2 AS value,
                sumIf({metric.weight}, {now}) AS now, sumIf({metric.weight}, NOT {now}) AS before
            FROM {EVENTS} AS e ARRAY JOIN [{pairs}] AS d
            WHERE {where}
            GROUP BY dimension, value
            HAVING now > before
            ORDER BY now - before DESC, dimension, value
            LIMIT 1
            """,
            params,
        )
        if not rows:
            return None
        top = rows[0]
        totals = engine.rows(
            f"SELECT sumIf({metric.weight}, {now}) AS now, sumIf({metric.weight}, NOT {now}) "
            f"AS before FROM {EVENTS} AS e WHERE {where}",
            params,
        )[0]
        change = float(totals["now"]) - float(totals["before"])
        share = min(1.0, (top["now"] - top["before"]) / change) if change > 0 else None
        examples = self._examples(engine, replace(both, start=end - window), params, metric, top)
        return {
            "dimension": top["dimension"],
            "value": top["value"],
            "now": float(top["now"]),
            "before": float(top["before"]),
            "share_of_change": share,
            "examples": examples,
        }

    @staticmethod
    def _examples(
        engine: Engine, scope: Scope, params: dict[str, Param], metric: Metric, top: Row
    ) -> list[str]:
        """The newest calls of the slice that contribute to the problem."""
        where, scope_params = scope.where()
        rows = engine.rows(
            f"SELECT toString(event_id) AS id FROM {EVENTS} AS e WHERE {where} "
            f"AND toString(e.{top['dimension']}) = {{slice:String}} AND {metric.weight} > 0 "
            f"ORDER BY ts DESC LIMIT {EXAMPLES}",
            {**scope_params, "threshold": params["threshold"], "slice": top["value"]},
        )
        return [r["id"] for r in rows]


register(MetricKind())

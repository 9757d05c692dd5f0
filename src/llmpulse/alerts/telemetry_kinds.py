"""Rule kinds over application telemetry (docs/alerts.md, docs/logs-and-metrics.md).

- log_count: `metric` is a level; the value is the window's records at that level or above
  (ERROR counts ERROR and CRITICAL; `any` counts all), narrowed by `params.pattern` (text
  in the message, any case) and `params.service`.
- custom_metric: `metric` is a custom metric's name; the value is its aggregate over the
  window: `params.agg` (default: avg for a gauge, rate for a counter, p95 for a histogram;
  see GET /v1/metrics/custom/series) of the points matching `params.tags` ({key: value}).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Final

from llmpulse.alerts.kinds import Observation, check_own_scope, register
from llmpulse.alerts.rules import Rule
from llmpulse.api.errors import FieldError
from llmpulse.events.custom_metrics import NAME_PATTERN
from llmpulse.events.logs import LEVELS
from llmpulse.query import custom_metrics, logs
from llmpulse.query.filters import QueryError, Scope
from llmpulse.store.engine import Engine

ANY_LEVEL: Final = "any"
DEFAULT_AGG: Final = {"gauge": "avg", "counter": "rate", "histogram": "p95"}
_AGGS: Final = {agg for aggs in custom_metrics.AGGREGATIONS.values() for agg in aggs}


def _window(project: str, rule: Rule, end: datetime) -> Scope:
    return Scope(project, end - timedelta(seconds=rule.window_s), end)


class LogCount:
    name = "log_count"

    def check(self, rule: Rule) -> None:
        check_own_scope(rule, {"pattern", "service"}, "use pattern, service")
        if rule.metric.upper() not in LEVELS and rule.metric != ANY_LEVEL:
            raise FieldError(422, "metric", f"a level: {', '.join(LEVELS)} or {ANY_LEVEL}")
        for name in ("pattern", "service"):
            value = rule.params.get(name)
            if value is not None and (not isinstance(value, str) or not value):
                raise FieldError(422, f"params.{name}", "a non-empty string")

    def observe(self, engine: Engine, project: str, rule: Rule, end: datetime) -> list[Observation]:
        level = rule.metric.upper()
        levels = [] if rule.metric == ANY_LEVEL else list(LEVELS[LEVELS.index(level) :])
        service = rule.params.get("service")
        f = logs.LogFilter(_window(project, rule, end), levels, [service] if service else [],
                           rule.params.get("pattern"))  # fmt: skip
        return [Observation({}, float(logs.count_matching(engine, f)))]

    def explain(
        self, engine: Engine, project: str, rule: Rule, seen: Observation, end: datetime
    ) -> dict[str, Any] | None:
        return None


class CustomMetric:
    name = "custom_metric"

    def check(self, rule: Rule) -> None:
        check_own_scope(rule, {"agg", "tags"}, "use agg, tags")
        if not re.fullmatch(NAME_PATTERN, rule.metric):
            raise FieldError(422, "metric", "a custom metric's name")
        agg = rule.params.get("agg")
        if agg is not None and agg not in _AGGS:
            raise FieldError(422, "params.agg", "an aggregation of GET /v1/metrics/custom/series")
        tags = rule.params.get("tags", {})
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise FieldError(422, "params.tags", "an object of tag names to string values")

    def observe(self, engine: Engine, project: str, rule: Rule, end: datetime) -> list[Observation]:
        tags = {k: [v] for k, v in rule.params.get("tags", {}).items()}
        try:
            kind = custom_metrics.metric_type(engine, project, rule.metric)
            agg = rule.params.get("agg") or DEFAULT_AGG[kind]
            value = custom_metrics.window_value(
                engine, _window(project, rule, end), rule.metric, agg, tags
            )
        except QueryError:  # no such metric (yet), or an aggregation its type lacks
            value = None
        return [Observation({}, value)]

    def explain(
        self, engine: Engine, project: str, rule: Rule, seen: Observation, end: datetime
    ) -> dict[str, Any] | None:
        return None


register(LogCount())
register(CustomMetric())

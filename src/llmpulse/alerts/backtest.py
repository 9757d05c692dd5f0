"""Backtest: a draft rule replayed over stored history — when it would have fired, for
how long, at what values — before anyone is paged by it.

The rule's window is computed at every evaluation step in one query: the measures are
aggregated per bucket (a step's and a window's common divisor), each bucket is counted in
every step whose window holds it, and the buckets are merged per step (sums summed,
percentile sketches merged). Other kinds (drift, quality) are observed at each step, a
week hourly at most. The state machine then runs over the steps exactly as the evaluator
would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from llmpulse.alerts.kinds import KINDS, Observation
from llmpulse.alerts.metrics import METRICS, REJECTED_METRIC, observation
from llmpulse.alerts.rules import Rule
from llmpulse.alerts.states import FIRING, Instance, advance, instance_key
from llmpulse.query.aggregates import MEASURES
from llmpulse.query.filters import Scope, iso_ms
from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS, REJECTED

MAX_STEPS: Final = 2016  # a week at 5 minutes
# Kinds other than `metric` are observed one step at a time: a week hourly at most.
MAX_OBSERVED_STEPS: Final = 168
STEPS_S: Final = (60, 300, 900, 3600, 21600, 86400)  # coarser steps when there would be more


@dataclass(frozen=True)
class Plan:
    step_s: int
    bucket_s: int


def plan(rule: Rule, span_s: float, most: int = MAX_STEPS) -> Plan:
    """The evaluation step (the rule's interval, or coarser so there are at most `most`)
    and the bucket dividing both it and the window."""
    step = rule.every_s
    if span_s / step > most:
        step = next((s for s in STEPS_S if span_s / s <= most), STEPS_S[-1])
    return Plan(step, math.gcd(step, rule.window_s))


def backtest(
    engine: Engine, project: str, rule: Rule, start: datetime, end: datetime
) -> dict[str, Any]:
    metric = rule.kind == "metric"
    p = plan(rule, (end - start).total_seconds(), MAX_STEPS if metric else MAX_OBSERVED_STEPS)
    first = math.ceil(start.timestamp() / p.step_s) * p.step_s
    steps = list(range(int(first), int(end.timestamp()) + 1, p.step_s))
    # Observations per evaluation time and instance; a step without rows has no data.
    by_time: dict[int, dict[str, Observation]] = {}
    if metric:
        for row in _windows(engine, project, rule, p, steps):
            measured = _observe(rule, row)
            by_time.setdefault(int(row["t"]), {})[instance_key(measured.group)] = measured
    else:  # other kinds: evaluated at each step as the evaluator would
        kind = KINDS[rule.kind]
        for t in steps:
            observed = kind.observe(engine, project, rule, datetime.fromtimestamp(t, UTC))
            by_time[t] = {instance_key(o.group): o for o in observed}
    instances: dict[str, Instance] = {}
    episodes: list[dict[str, Any]] = []
    series: dict[str, list[dict[str, Any]]] = {}
    open_episodes: dict[str, dict[str, Any]] = {}
    for t in steps:
        seen_now = by_time.get(t, {})
        keys = set(seen_now) | set(instances) | ({"{}"} if not rule.group_by else set())
        for key in keys:
            seen = seen_now.get(key)
            was = instances.get(key) or Instance(project, "backtest", seen.group if seen else {})
            after, _ = advance(rule, was, seen, float(t))
            instances[key] = after
            series.setdefault(key, []).append(
                {
                    "t": iso_ms(t * 1000),
                    "value": after.value,
                    "compared": seen.compared if seen else None,
                    "state": after.state,
                }
            )
            _track(key, was, after, t, open_episodes, episodes)
    for key, episode in open_episodes.items():
        episodes.append({**episode, "resolved_at": None, "group": instances[key].group})
    episodes.sort(key=lambda e: e["fired_at"])
    return {
        "from": iso_ms(int(start.timestamp() * 1000)),
        "to": iso_ms(int(end.timestamp() * 1000)),
        "step": p.step_s,
        "evaluations": len(steps),
        "fired": len(episodes),
        "episodes": episodes,
        "series": [
            {"group": instances[k].group, "points": points} for k, points in sorted(series.items())
        ],
    }


def _track(
    key: str,
    was: Instance,
    after: Instance,
    t: int,
    open_episodes: dict[str, dict[str, Any]],
    episodes: list[dict[str, Any]],
) -> None:
    """Firing periods: opened when an instance starts firing, closed when it stops."""
    if after.state == FIRING and was.state != FIRING:
        open_episodes[key] = {"fired_at": iso_ms(t * 1000), "severity": after.severity,
                              "peak": after.value}  # fmt: skip
    elif after.state == FIRING and key in open_episodes:
        episode = open_episodes[key]
        if after.value is not None and (episode["peak"] is None or after.value > episode["peak"]):
            episode["peak"] = after.value
        if after.severity == "critical":
            episode["severity"] = "critical"
    elif was.state == FIRING and after.state != FIRING and key in open_episodes:
        episode = open_episodes.pop(key)
        episodes.append({**episode, "resolved_at": iso_ms(t * 1000), "group": after.group})


def _observe(rule: Rule, row: dict[str, Any]) -> Observation:
    if rule.metric == REJECTED_METRIC:
        return Observation({}, float(row["n"]))
    return observation(rule, row)


def _windows(
    engine: Engine, project: str, rule: Rule, p: Plan, steps: list[int]
) -> list[dict[str, Any]]:
    """One row per evaluation time (epoch s, `t`) and group: the measures over the window
    ending then."""
    if not steps:
        return []
    start = datetime.fromtimestamp(steps[0] - rule.window_s, UTC)
    end = datetime.fromtimestamp(steps[-1], UTC)
    bucket = f"toUnixTimestamp(toStartOfInterval({{time}}, toIntervalSecond({p.bucket_s})))"
    if rule.metric == REJECTED_METRIC:
        where, params = Scope(project, start, end).where("received_at")
        inner = (f"SELECT {bucket.format(time='received_at')} AS b, count() AS n "
                 f"FROM {REJECTED} WHERE {where} GROUP BY b")  # fmt: skip
        outer, groups = ["sum(n) AS n"], []
    else:
        measures = METRICS[rule.metric].measures
        where, params = Scope(project, start, end, rule.filters).where()
        groups = list(rule.group_by)
        partial = ", ".join(f"{MEASURES[m].raw} AS {m}" for m in measures)
        keys = ", ".join([*groups, "b"])
        columns = ", ".join([*groups, bucket.format(time="e.ts") + " AS b"])
        inner = (f"SELECT {columns}, {partial} FROM {EVENTS} AS e "
                 f"WHERE {where} GROUP BY {keys}")  # fmt: skip
        outer = [f"{MEASURES[m].merge.format(c=m)} AS {m}" for m in measures]
    # Bucket [b, b + bucket) lies in the window (t - window, t] of each step t from
    # b + bucket to b + window.
    steps_of_b = (
        f"arrayJoin(range(toUInt64(intDiv(b + {p.bucket_s} + {p.step_s} - 1, {p.step_s}) * "
        f"{p.step_s}), toUInt64(b + {rule.window_s} + 1), {p.step_s})) AS t"
    )
    sql = (
        f"SELECT {', '.join([*groups, 't', *outer])} FROM (SELECT *, {steps_of_b} "
        f"FROM ({inner})) WHERE t >= {{first:Int64}} GROUP BY {', '.join([*groups, 't'])}"
    )
    params["first"] = steps[0]
    return engine.rows(sql, params)

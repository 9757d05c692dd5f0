"""Reads of feedback scores: an event's scores, the score log, and scores joined to the
events they judge (so they group by the events' dimensions: model, variant, user...).

A score names its event, or a whole trace: a trace's score counts once, with the
dimensions of the trace's first call.
"""

from __future__ import annotations

import re
from typing import Any, Final

from llmpulse.query.filters import QueryError, Scope, iso_ms
from llmpulse.store.engine import Engine, Param
from llmpulse.store.tables import EVENTS, SCORES

SCORE_NAME: Final = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
METRIC_PREFIX: Final = "score:"
_SCORE_COLUMNS: Final = """
    score_id, toUnixTimestamp64Milli(ts) AS ts_ms, event_id, trace_id, name, data_type,
    value, category, source, comment
"""


def score_metric(metric: str | None, param: str = "metric") -> str | None:
    """The score name in `score:NAME`, None when no metric was asked for."""
    if metric is None:
        return None
    name = metric.removeprefix(METRIC_PREFIX)
    if not metric.startswith(METRIC_PREFIX) or not SCORE_NAME.fullmatch(name):
        raise QueryError(param, f"{metric!r} is not a score metric: use score:NAME")
    return name


def _score(row: dict[str, Any]) -> dict[str, Any]:
    score = {"score_id": row["score_id"], "ts": iso_ms(row["ts_ms"])}
    score.update({k: row[k] or None for k in ("event_id", "trace_id")})
    score.update(name=row["name"], data_type=row["data_type"], source=row["source"])
    if row["data_type"] == "categorical":
        score["value"] = row["category"]
    elif row["data_type"] == "boolean":
        score["value"] = bool(row["value"])
    else:
        score["value"] = row["value"]
    score["comment"] = row["comment"] or None
    return score


def of_event(engine: Engine, project: str, event_id: str, trace_id: str) -> list[dict[str, Any]]:
    """The scores of one event and of its trace, oldest first."""
    rows = engine.rows(
        f"SELECT {_SCORE_COLUMNS} FROM {SCORES} FINAL WHERE project = {{p:String}} "
        "AND (event_id = {e:String} OR (trace_id = {t:String} AND trace_id != '')) "
        "ORDER BY ts, score_id",
        {"p": project, "e": event_id, "t": trace_id},
    )
    return [_score(r) for r in rows]


def log(engine: Engine, scope: Scope, name: str | None, limit: int) -> dict[str, Any]:
    """Scores received in the range, newest first, each marked orphan when no stored
    event or trace of this project matches it (yet: events may still arrive)."""
    params: dict[str, Param] = {
        "p": scope.project,
        "start": scope.start,
        "end": scope.end,
        "limit": limit,
    }
    where = "project = {p:String} AND ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}"
    if name:
        where += " AND name = {name:String}"
        params["name"] = name
    rows = engine.rows(
        f"SELECT {_SCORE_COLUMNS} FROM {SCORES} FINAL WHERE {where} "
        "ORDER BY ts DESC, score_id LIMIT {limit:UInt32}",
        params,
    )
    scores = [_score(r) for r in rows]
    found = matched(engine, scope.project, scores)
    for score in scores:
        score["orphan"] = (score["event_id"] or score["trace_id"]) not in found
    return {"scores": scores}


def matched(engine: Engine, project: str, scores: list[dict[str, Any]]) -> set[str]:
    """The event ids and trace ids of `scores` that name stored events."""
    events = [s["event_id"] for s in scores if s.get("event_id")]
    traces = [s["trace_id"] for s in scores if not s.get("event_id") and s.get("trace_id")]
    parts: list[str] = []
    params: dict[str, Param] = {"p": project}
    if events:
        parts.append(f"SELECT DISTINCT toString(event_id) AS k FROM {EVENTS} "
                     "WHERE project = {p:String} AND event_id IN {e:Array(UUID)}")  # fmt: skip
        params["e"] = events
    if traces:
        parts.append(f"SELECT DISTINCT trace_id AS k FROM {EVENTS} "
                     "WHERE project = {p:String} AND trace_id IN {t:Array(String)}")  # fmt: skip
        params["t"] = traces
    if not parts:
        return set()
    return {r["k"] for r in engine.rows(" UNION ALL ".join(parts), params)}


def joined(
    scope: Scope, columns: list[str], names: list[str] | None = None
) -> tuple[str, dict[str, Param]]:
    """SQL of the scores of the events in `scope` (name, data_type, value, category), each
    with the judged event's `columns`; a trace's score takes its first call's."""
    where, params = scope.where()
    params["s_project"] = scope.project
    chosen = "project = {s_project:String}"
    if names is not None:
        chosen += " AND name IN {s_names:Array(String)}"
        params["s_names"] = names
    score = "s.name AS name, s.data_type AS data_type, s.value AS value, s.category AS category"
    picked = "".join(f", e.{c} AS {c}" for c in columns)
    listed = "".join(f", {c}" for c in columns)
    firsts = "".join(f", argMin({c}, ts) AS {c}" for c in columns)
    fields = "name, data_type, value, category"
    # The scores are the joins' right side: the hash table is built from them, the few.
    # A trace's events are grouped only for the traces that have scores.
    of_project = f"{fields} FROM {SCORES} FINAL WHERE {chosen}"
    on_event = f"SELECT toUUIDOrZero(event_id) AS k, {of_project} AND event_id != ''"
    on_trace = f"SELECT trace_id AS k, {of_project} AND event_id = '' AND trace_id != ''"
    sql = f"""
        SELECT {score}{picked}
        FROM (SELECT event_id{listed} FROM {EVENTS} WHERE {where}) AS e
        INNER JOIN ({on_event}) AS s ON e.event_id = s.k
        UNION ALL
        SELECT {score}{picked}
        FROM (SELECT trace_id{firsts} FROM {EVENTS}
              WHERE {where} AND trace_id IN (SELECT k FROM ({on_trace})) GROUP BY trace_id) AS e
        INNER JOIN ({on_trace}) AS s ON e.trace_id = s.k
    """  # fmt: skip
    return sql, params


def by_group(
    engine: Engine, scope: Scope, name: str, group_by: list[str]
) -> dict[tuple[str, ...], Any]:
    """The score `name` per group of `group_by`: count, mean and, for categorical scores,
    each category's share."""
    sql, params = joined(scope, group_by, [name])
    keys = ", ".join(group_by)
    rows = engine.rows(
        f"SELECT {keys}{', ' if keys else ''}any(data_type) AS kind, count() AS n, "
        "avg(value) AS mean, sumMap([category], [toUInt64(1)]) AS categories "
        f"FROM ({sql}) {'GROUP BY ' + keys if keys else ''}",
        params,
    )
    out: dict[tuple[str, ...], Any] = {}
    for r in rows:
        if not r["n"]:
            continue
        key = tuple(r[k] for k in group_by)
        entry: dict[str, Any] = {"name": name, "data_type": r["kind"], "count": r["n"]}
        if r["kind"] == "categorical":
            cats, counts = r["categories"]
            entry["mean"] = None
            entry["shares"] = {c: k / r["n"] for c, k in zip(cats, counts, strict=True)}
        else:
            entry["mean"] = r["mean"]
        out[key] = entry
    return out

"""Event-level reads: top errors, the request log, single events, rejected and unpriced."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from typing import Any, Final

from llmpulse.events.normalize import canonical_event_id
from llmpulse.query.aggregates import LATENCY_BIN_COUNT, LATENCY_BINS_PER_E, aggregate
from llmpulse.query.filters import Scope, api_values, iso_ms
from llmpulse.query.metrics import summary_groups
from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS, REJECTED

# Every stored column, in the API's shape; times as epoch ms, converted below.
# (Aliases never reuse a column's name: WHERE would then see the alias.)
_EVENT_COLUMNS: Final = """
    toString(event_id) AS id,
    toUnixTimestamp64Milli(ts) AS ts_ms,
    toUnixTimestamp64Milli(received_at) AS received_ms,
    model_id, model_version, provider, prompt_version, prompt_prefix_hash, feature,
    experiment_name,
    experiment_variant,
    operation, status, error_type, region, environment, client_app, client_os,
    finish_reason, user_id, session_id, request_id, trace_id, span_id, parent_span_id,
    latency_ms, ttft_ms, tokens_in, tokens_out, tokens_cached, tokens_reasoning,
    cost_usd, cost_source, stream, temperature, max_tokens, http_status,
    prompt, completion, metadata, tags
"""


def _event(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row in the API's shape: schema field names, ISO times."""
    event = {
        "event_id": row.pop("id"),
        "ts": iso_ms(row.pop("ts_ms")),
        "received_at": iso_ms(row.pop("received_ms")),
    }
    event.update(api_values(row))
    if event["stream"] is not None:
        event["stream"] = bool(event["stream"])
    return event


def top_errors(engine: Engine, scope: Scope, limit: int) -> dict[str, Any]:
    where, params = scope.where()
    params["limit"] = limit
    rows = engine.rows(
        f"""
        SELECT error_type, model_id, count() AS n,
            sum(n) OVER () AS total,
            argMax(toString(event_id), ts) AS latest_event_id
        FROM {EVENTS}
        WHERE {where} AND status = 'error'
        GROUP BY error_type, model_id
        ORDER BY n DESC, error_type, model_id
        LIMIT {{limit:UInt32}}
        """,
        params,
    )
    examples = _events_by_id(engine, scope.project, [r["latest_event_id"] for r in rows])
    errors = [
        {
            "error_type": r["error_type"],
            "model_id": r["model_id"],
            "count": r["n"],
            "share": r["n"] / r["total"],
            "latest": examples.get(r["latest_event_id"]),
        }
        for r in rows
    ]
    return {"errors": errors}


def _events_by_id(engine: Engine, project: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = engine.rows(
        f"SELECT {_EVENT_COLUMNS} FROM {EVENTS} "
        "WHERE project = {p:String} AND event_id IN {ids:Array(UUID)}",
        {"p": project, "ids": ids},
    )
    return {e["event_id"]: e for e in map(_event, rows)}


def get_event(engine: Engine, project: str, event_id: str) -> dict[str, Any] | None:
    found = _events_by_id(engine, project, [canonical_event_id(event_id)])
    return next(iter(found.values()), None)


Position = tuple[int, str]  # (ts in epoch ms, event_id) of a request in the log


def list_requests(
    engine: Engine,
    scope: Scope,
    limit: int,
    after: Position | None = None,
    search: str | None = None,
) -> tuple[list[dict[str, Any]], Position | None]:
    """Newest first, starting after `after`; with the position of the last one returned
    when there are more."""
    where, params = scope.where()
    if after:
        where += (
            " AND (toUnixTimestamp64Milli(ts), event_id) < ({c_ts:Int64}, toUUID({c_id:String}))"
        )
        params.update(c_ts=after[0], c_id=canonical_event_id(after[1]))
    if search:
        where += (
            " AND (toString(event_id) = {q:String} OR request_id = {q:String} OR"
            " trace_id = {q:String} OR session_id = {q:String} OR user_id = {q:String})"
        )
        params["q"] = search
    params["limit"] = limit + 1
    rows = engine.rows(
        f"SELECT {_EVENT_COLUMNS} FROM {EVENTS} WHERE {where} "
        "ORDER BY ts DESC, event_id DESC LIMIT {limit:UInt32}",
        params,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = (rows[-1]["ts_ms"], rows[-1]["id"]) if more else None
    return [_event(r) for r in rows], last


def rejected(engine: Engine, scope: Scope, limit: int) -> dict[str, Any]:
    # Rejected events have no dimensions to filter on: only project and time apply.
    where, params = Scope(scope.project, scope.start, scope.end).where("received_at")
    params["limit"] = limit
    rows = engine.rows(
        "SELECT toUnixTimestamp64Milli(received_at) AS received_ms, source, reason, raw "
        f"FROM {REJECTED} WHERE {where} "
        "ORDER BY received_at DESC LIMIT {limit:UInt32}",
        params,
    )
    for row in rows:
        row["received_at"] = iso_ms(row.pop("received_ms"))
    return {"rejected": rows}


def unpriced_models(engine: Engine, scope: Scope) -> dict[str, Any]:
    where, params = scope.where()
    rows = engine.rows(
        f"""
        SELECT model_id, provider, count() AS events,
            toUnixTimestamp64Milli(max(ts)) AS last_seen
        FROM {EVENTS}
        WHERE {where} AND cost_source = 'unpriced'
        GROUP BY model_id, provider
        ORDER BY events DESC
        """,
        params,
    )
    for row in rows:
        row["last_seen"] = iso_ms(row["last_seen"])
    return {"models": rows}


def related(
    engine: Engine, project: str, event: dict[str, Any], limit: int = 200
) -> dict[str, Any]:
    """The other calls of the event's trace and of its session, oldest first."""
    out: dict[str, Any] = {"trace": [], "session": []}
    for kind, column in (("trace", "trace_id"), ("session", "session_id")):
        if not event.get(column):
            continue
        rows = engine.rows(
            f"SELECT {_EVENT_COLUMNS} FROM {EVENTS} WHERE project = {{p:String}} "
            f"AND {column} = {{v:String}} AND event_id != toUUID({{id:String}}) "
            "ORDER BY ts LIMIT {limit:UInt32}",
            {"p": project, "v": event[column], "id": event["event_id"], "limit": limit},
        )
        out[kind] = [_event(r) for r in rows]
    return out


def sessions(engine: Engine, scope: Scope, limit: int) -> dict[str, Any]:
    """The sessions most recently active in the range, newest first: start, duration,
    calls, errors, cost of the priced calls and the count of unpriced ones (within the
    range)."""
    where, params = scope.where()
    params["limit"] = limit
    # Newest events first is the table's own order (read backwards, stops early); the
    # second pass aggregates just those sessions, found through the session_id index.
    rows = engine.rows(
        f"""
        WITH recent AS (
            SELECT session_id FROM {EVENTS}
            WHERE {where} AND session_id != ''
            ORDER BY ts DESC LIMIT 1 BY session_id LIMIT {{limit:UInt32}}
        )
        SELECT session_id, any(user_id) AS user,
            toUnixTimestamp64Milli(min(ts)) AS start_ms,
            toUnixTimestamp64Milli(max(ts)) - toUnixTimestamp64Milli(min(ts)) AS duration_ms,
            count() AS calls, countIf(status = 'error') AS errors,
            sum(ifNull(cost_usd, 0)) AS cost, countIf(cost_source = 'unpriced') AS unpriced,
            arraySlice(arraySort(groupUniqArray(model_id)), 1, 5) AS models
        FROM {EVENTS}
        WHERE {where} AND session_id IN (SELECT session_id FROM recent)
        GROUP BY session_id
        ORDER BY max(ts) DESC
        """,
        params,
    )
    return {
        "sessions": [
            {
                "session_id": r["session_id"],
                "user_id": r["user"],
                "start": iso_ms(r["start_ms"]),
                "duration_ms": r["duration_ms"],
                "calls": r["calls"],
                "errors": r["errors"],
                "cost_usd": r["cost"],
                "unpriced": r["unpriced"],  # calls whose cost is unknown (not in cost_usd)
                "models": sorted(r["models"]),
            }
            for r in rows
        ]
    }


SAMPLE_WINDOW = timedelta(days=1)


def compare_models(engine: Engine, scope: Scope, points: int = 1500) -> dict[str, Any]:
    """Per model (the scope's model_id filter picks 2-4): the summary, a latency histogram
    (64 log-spaced bins, from the hourly rollup over long ranges), and a sample of (tokens,
    latency, status) calls from the last day of the range for a scatter plot."""
    groups, _ = summary_groups(engine, scope, ["model_id"])
    bins = aggregate(engine, scope, ["model_id"], ["latency_bins"])
    recent = replace(scope, start=max(scope.start, scope.end - SAMPLE_WINDOW))
    where, params = recent.where()
    # Every n-th millisecond of ts picks about `points` calls of the busiest model, from a
    # column the filter reads anyway; only those are sorted, so that the same calls give
    # the same sample in the same order (on a cluster too).
    busiest = max((g["requests"] for g in groups), default=0)
    share = (recent.end - recent.start) / (scope.end - scope.start)
    params.update(points=points, every=max(1, int(busiest * share) // points))
    sample = engine.rows(
        f"""
        SELECT model_id, tokens_in + tokens_out AS tokens, latency_ms, status
        FROM {EVENTS}
        WHERE {where} AND toUnixTimestamp64Milli(ts) % {{every:UInt64}} = 0
        ORDER BY model_id, ts, event_id
        LIMIT {{points:UInt32}} BY model_id
        """,
        params,
    )
    models: dict[str, dict[str, Any]] = {}
    for r in bins:
        histogram = [0] * LATENCY_BIN_COUNT
        for index, count in r["latency_bins"].items():
            histogram[int(index)] = count
        models[r["model_id"]] = {"histogram": histogram, "sample": []}
    for r in sample:
        models[r["model_id"]]["sample"].append([r["tokens"], r["latency_ms"], r["status"]])
    edges = [math.exp(i / LATENCY_BINS_PER_E) for i in range(LATENCY_BIN_COUNT + 1)]
    return {"bin_edges_ms": edges, "models": models, "summary": groups}


def has_events(engine: Engine, project: str) -> bool:
    """Whether the project has stored any event at all (an empty project gets onboarding)."""
    rows = engine.rows(
        f"SELECT 1 AS found FROM {EVENTS} WHERE project = {{p:String}} LIMIT 1", {"p": project}
    )
    return bool(rows)


# The mark redaction leaves in text, server-side or in the SDK: [REDACTED:rule].
_MARK = r"\[REDACTED:([a-z0-9_]+)\]"


def redactions(engine: Engine, scope: Scope) -> dict[str, int]:
    """Redaction marks per rule in the scope's stored prompts and completions."""
    where, params = scope.where()
    rows = engine.rows(
        "SELECT rule, count() AS n FROM (SELECT arrayJoin(arrayConcat("
        "extractAll(prompt, {mark:String}), extractAll(completion, {mark:String}))) AS rule "
        f"FROM {EVENTS} WHERE {where}) GROUP BY rule ORDER BY rule",
        {**params, "mark": _MARK},
    )
    return {r["rule"]: int(r["n"]) for r in rows}

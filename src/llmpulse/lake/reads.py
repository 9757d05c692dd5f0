"""The store side of the lake: what a run exports (by the time rows reached the store),
erased users, and the counts verify compares with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa

from llmpulse.lake.manifest import Tombstone
from llmpulse.lake.schema import SILVER_SCHEMA
from llmpulse.store.engine import Engine, Param
from llmpulse.store.tables import ERASURES, EVENTS, REJECTED

TOKEN_COLUMNS = ("tokens_in", "tokens_out", "tokens_cached", "tokens_reasoning")
_MS = "fromUnixTimestamp64Milli({%s:Int64}, 'UTC')"
_COLUMNS = [f.name for f in SILVER_SCHEMA]
# Column expressions of a silver row: the stored columns, event_id as text.
_SILVER_SELECT = ", ".join(
    "toString(event_id) AS event_id" if c == "event_id" else c for c in _COLUMNS
)
_PAYLOAD = "formatRowNoNewline('JSONEachRow', " + ", ".join(
    c for c in _COLUMNS if c != "inserted_at"
) + ")"  # fmt: skip


@dataclass(frozen=True)
class Window:
    """Rows that reached the store in (after_ms, until_ms], optionally with ts in a range."""

    after_ms: int | None
    until_ms: int
    ts_from_ms: int | None = None
    ts_to_ms: int | None = None

    def where(self, time_column: str = "ts") -> tuple[str, dict[str, Param]]:
        sql = "inserted_at <= " + _MS % "until"
        params: dict[str, Param] = {"until": self.until_ms}
        if self.after_ms is not None:
            sql += " AND inserted_at > " + _MS % "after"
            params["after"] = self.after_ms
        if self.ts_from_ms is not None:
            sql += f" AND {time_column} >= " + _MS % "ts_from"
            params["ts_from"] = self.ts_from_ms
        if self.ts_to_ms is not None:
            sql += f" AND {time_column} < " + _MS % "ts_to"
            params["ts_to"] = self.ts_to_ms
        return sql, params


def store_now_ms(engine: Engine) -> int:
    """The store's clock: inserted_at is set by it, so the watermark is read from it too."""
    return int(engine.rows("SELECT toUnixTimestamp64Milli(now64(3)) AS t")[0]["t"])


def erased(engine: Engine) -> list[Tombstone]:
    rows = engine.rows(
        f"SELECT project, user_id, toUnixTimestamp64Milli(max(erased_at)) AS at FROM {ERASURES} "
        "GROUP BY project, user_id ORDER BY project, user_id"
    )
    return [Tombstone(r["project"], r["user_id"], int(r["at"])) for r in rows]


def not_erased(project: str, tombstones: set[Tombstone]) -> tuple[str, dict[str, Param]]:
    """A condition leaving out the calls of the project's erased users received before
    their erasure (a user id sent again later is new data)."""
    mine = sorted((t.user_id, t.erased_at_ms) for t in tombstones if t.project == project)
    if not mine:
        return "1", {}
    return (
        "(indexOf({erased_users:Array(String)}, user_id) = 0 OR toUnixTimestamp64Milli("
        "received_at) > arrayElement({erased_at:Array(Int64)}, "
        "indexOf({erased_users:Array(String)}, user_id)))",
        {"erased_users": [u for u, _ in mine], "erased_at": [t for _, t in mine]},
    )


def days_to_export(engine: Engine, window: Window, time_column: str) -> list[tuple[str, date]]:
    """(project, day) of every row in the window by `time_column` (ts for silver and gold;
    received_at for bronze, dead letters included): a run reads one at a time, so its
    memory is one project-day's rows."""
    where, params = window.where(time_column)
    tables = (EVENTS, REJECTED) if time_column == "received_at" else (EVENTS,)
    found: set[tuple[str, date]] = set()
    for table in tables:
        rows = engine.rows(
            f"SELECT DISTINCT project, toDate({time_column}) AS day FROM {table} WHERE {where}",
            params,
        )
        found |= {(r["project"], date.fromisoformat(r["day"])) for r in rows}
    return sorted(found)


def _day(project: str, day: date, column: str) -> tuple[str, dict[str, Param]]:
    return (
        f"project = {{project:String}} AND {column} >= toDateTime64({{day:String}}, 3, 'UTC') "
        f"AND {column} < toDateTime64({{day:String}}, 3, 'UTC') + INTERVAL 1 DAY",
        {"project": project, "day": day.isoformat()},
    )


def silver_day(
    engine: Engine, window: Window, project: str, day: date, tombstones: set[Tombstone]
) -> pa.Table:
    where, params = window.where()
    in_day, day_params = _day(project, day, "ts")
    kept, kept_params = not_erased(project, tombstones)
    return engine.arrow(
        f"SELECT {_SILVER_SELECT} FROM {EVENTS} WHERE {in_day} AND {where} AND {kept} "
        "ORDER BY ts, event_id",
        {**params, **day_params, **kept_params},
    )


def gold_hours(
    engine: Engine, until_ms: int, project: str, hours_ms: list[int], tombstones: set[Tombstone]
) -> pa.Table:
    """Whole hours' aggregates (every call stored by `until_ms`, not the window's alone):
    a late call changes its hour, and the hour is written again."""
    kept, kept_params = not_erased(project, tombstones)
    sums = {
        "requests": "count()",
        "errors": "countIf(status = 'error')",
        "unpriced": "countIf(cost_usd IS NULL)",
        **{t: f"sum(toUInt64({t}))" for t in TOKEN_COLUMNS},
        "cost_usd": "sum(ifNull(cost_usd, 0))",
        "latency_sum_ms": "sum(latency_ms)",
        **{f"latency_p{q}_ms": f"quantileExact(0.{q})(latency_ms)" for q in (50, 95, 99)},
        "latency_max_ms": "max(latency_ms)",
        **{f"ttft_p{q}_ms": f"if(count(ttft_ms) = 0, NULL, quantileExact(0.{q})(ttft_ms))"
           for q in (50, 95)},
    }  # fmt: skip
    # Computed under prefixed names: an alias equal to a column would be read in its place.
    inner = ", ".join(f"{expr} AS g_{name}" for name, expr in sums.items())
    outer = ", ".join(f"g_{name} AS {name}" for name in sums)
    return engine.arrow(
        f"SELECT project, hour_start, model_id, provider, prompt_version, feature, {outer} FROM ("
        "SELECT project, toDateTime64(toStartOfHour(ts), 3, 'UTC') AS hour_start, model_id, "
        f"provider, prompt_version, feature, {inner} "
        f"FROM {EVENTS} WHERE project = {{project:String}} "
        "AND toUnixTimestamp(toStartOfHour(ts)) * 1000 IN {hours:Array(Int64)} "
        f"AND inserted_at <= {_MS % 'until'} AND {kept} "
        "GROUP BY project, hour_start, model_id, provider, prompt_version, feature) "
        "ORDER BY hour_start, model_id, provider, prompt_version, feature",
        {"project": project, "hours": hours_ms, "until": until_ms, **kept_params},
    )


def bronze_day(
    engine: Engine, window: Window, project: str, day: date, tombstones: set[Tombstone]
) -> pa.Table:
    where, params = window.where("received_at")
    in_day, day_params = _day(project, day, "received_at")
    kept, kept_params = not_erased(project, tombstones)
    return engine.arrow(
        "SELECT project, received_at, source, true AS accepted, toString(event_id) AS "
        f"event_id, '' AS reason, {_PAYLOAD} AS payload, inserted_at FROM {EVENTS} "
        f"WHERE {in_day} AND {where} AND {kept} "
        "UNION ALL SELECT project, received_at, source, false, '', reason, raw, inserted_at "
        f"FROM {REJECTED} WHERE {in_day} AND {where} "
        "ORDER BY received_at",
        {**params, **day_params, **kept_params},
    )


def stored_counts(
    engine: Engine, until_ms: int, tombstones: set[Tombstone]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (project, day): calls, token and cost sums the store holds that were inserted by
    `until_ms`, erased users left out as the lake leaves them out."""
    projects = [r["project"] for r in engine.rows(f"SELECT DISTINCT project FROM {EVENTS}")]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for project in projects:
        kept, kept_params = not_erased(project, tombstones)
        rows = engine.rows(
            "SELECT toString(toDate(ts)) AS day, count() AS rows, "
            "sum(toUInt64(tokens_in)) AS tokens_in, sum(toUInt64(tokens_out)) AS tokens_out "
            f"FROM {EVENTS} WHERE project = {{project:String}} "
            f"AND inserted_at <= {_MS % 'until'} AND {kept} GROUP BY day",
            {"project": project, "until": until_ms, **kept_params},
        )
        for r in rows:
            found[(project, r["day"])] = r
    return found


def hours_in_day(engine: Engine, window: Window, project: str, day: date) -> list[int]:
    """The hours (epoch ms) of the day that have calls in the window: gold rewrites them."""
    where, params = window.where()
    in_day, day_params = _day(project, day, "ts")
    rows = engine.rows(
        f"SELECT DISTINCT toUnixTimestamp(toStartOfHour(ts)) * 1000 AS hour FROM {EVENTS} "
        f"WHERE {in_day} AND {where} ORDER BY hour",
        {**params, **day_params},
    )
    return [int(r["hour"]) for r in rows]

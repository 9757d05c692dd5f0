"""Application logs: search (level, service, text, trace), counts per level over time.

Text search is a case-insensitive substring match on the message; the table's n-gram
index on lower(message) lets ClickHouse skip the granules that cannot hold it
(014_social_logs_metrics.sql). Newest first, in pages after a (ts, event_id) position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from llmpulse.events.logs import LEVELS
from llmpulse.query.filters import Scope, iso_ms
from llmpulse.query.metrics import Buckets
from llmpulse.store.engine import Engine, Param
from llmpulse.store.tables import LOGS

MAX_LIMIT: Final = 1000
__all__ = ["LEVELS", "LogFilter", "counts", "facets", "search"]
_COLUMNS: Final = (
    "formatDateTime(ts, '%Y-%m-%dT%H:%i:%S.%fZ') AS time, toUnixTimestamp64Micro(ts) AS ts_us, "
    "toString(event_id) AS id, level, severity_number, message, logger, service, trace_id, "
    "span_id, attributes"
)


@dataclass(frozen=True)
class LogFilter:
    """Records of a range, narrowed by levels and services (any of each; empty: all), text
    in the message and a trace."""

    scope: Scope
    levels: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    text: str | None = None
    trace_id: str | None = None

    def __post_init__(self) -> None:
        # An empty choice (a form's "any") is no filter.
        object.__setattr__(self, "levels", [v for v in self.levels if v])
        object.__setattr__(self, "services", [v for v in self.services if v])

    def where(self) -> tuple[str, dict[str, Param]]:
        clause, params = self.scope.where()
        if self.levels:
            clause += " AND level IN {levels:Array(String)}"
            params["levels"] = [v.upper() for v in self.levels]
        if self.services:
            clause += " AND service IN {services:Array(String)}"
            params["services"] = self.services
        if self.text:
            clause += " AND lower(message) LIKE {pattern:String}"
            params["pattern"] = "%" + _like_escaped(self.text.lower()) + "%"
        if self.trace_id:
            clause += " AND trace_id = {trace_id:String}"
            params["trace_id"] = self.trace_id.lower()
        return clause, params


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(
    engine: Engine, f: LogFilter, limit: int, after: tuple[int, str] | None = None
) -> dict[str, Any]:
    """The newest matching records (after `after`, a (ts_us, id) position); `next` is the
    position after the last one when more may follow."""
    where, params = f.where()
    params["limit"] = min(limit, MAX_LIMIT)
    if after is not None:
        # ts first on its own: the primary index narrows the range before the tuple test.
        where += (
            " AND ts <= fromUnixTimestamp64Micro({after_us:Int64}, 'UTC')"
            " AND (toUnixTimestamp64Micro(ts), toString(event_id))"
            " < ({after_us:Int64}, {after_id:String})"
        )
        params["after_us"], params["after_id"] = after
    rows = engine.rows(
        f"SELECT {_COLUMNS} FROM {LOGS} WHERE {where} "
        "ORDER BY ts DESC, id DESC LIMIT {limit:UInt32}",
        params,
    )
    last = [rows[-1]["ts_us"], rows[-1]["id"]] if len(rows) == params["limit"] else None
    return {"logs": [_record(r) for r in rows], "next": last}


def _record(row: dict[str, Any]) -> dict[str, Any]:
    row["ts"] = row.pop("time")
    row.pop("ts_us")
    row["event_id"] = row.pop("id")
    return row


def counts(engine: Engine, f: LogFilter, interval: str) -> dict[str, Any]:
    """Records per level per bucket, every bucket of the range listed."""
    buckets = Buckets.cover(f.scope, interval)
    where, params = f.where()
    rows = engine.rows(
        f"SELECT level, toUnixTimestamp(toStartOfInterval(ts, INTERVAL {buckets.seconds} "
        f"SECOND)) * 1000 AS t, count() AS records FROM {LOGS} WHERE {where} "
        "GROUP BY level, t ORDER BY level, t",
        params,
    )
    by_level: dict[str, dict[int, int]] = {}
    for r in rows:
        by_level.setdefault(r["level"], {})[r["t"]] = r["records"]
    starts = buckets.starts_ms()
    return {
        "interval": interval,
        "series": [
            {
                "level": level,
                "points": [{"t": iso_ms(t), "records": found.get(t, 0)} for t in starts],
            }
            for level, found in sorted(by_level.items())
        ],
        "total": sum(r["records"] for r in rows),
    }


def facets(engine: Engine, scope: Scope) -> dict[str, Any]:
    """The levels and services of the range, with their record counts."""
    where, params = scope.where()
    rows = engine.rows(
        f"SELECT level, service, count() AS records FROM {LOGS} WHERE {where} "
        "GROUP BY level, service",
        params,
    )
    levels: dict[str, int] = {}
    services: dict[str, int] = {}
    for r in rows:
        levels[r["level"]] = levels.get(r["level"], 0) + r["records"]
        services[r["service"]] = services.get(r["service"], 0) + r["records"]
    return {"levels": levels, "services": services}


def count_matching(engine: Engine, f: LogFilter) -> int:
    """How many records match (for alert rules on log counts)."""
    where, params = f.where()
    return int(engine.rows(f"SELECT count() AS n FROM {LOGS} WHERE {where}", params)[0]["n"])

"""Writes to the event tables, and the lookup that keeps them free of duplicates."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS, METRICS

# Ids per lookup query: keeps the statement (and a server's URL) a sane size.
_LOOKUP_CHUNK = 20_000


def stored_event_ids(
    engine: Engine,
    table: str,
    project: str,
    ids: Sequence[str],
    timestamps_ms: Sequence[int],
    since_ms: int | None = None,
) -> set[str]:
    """Which of `ids` the project already has in `table` (any table keyed by event_id).

    Rows are sorted by (project, ts, event_id), so each lookup reads only the time range of
    its ids: a retry carries the ts of its first send. `since_ms` widens the range to every
    ts from then on, for events whose ts the server assigned on receipt. Ids go in as one
    comma-joined string: ClickHouse parses that far faster than an Array(UUID) parameter.
    """
    order = sorted(range(len(ids)), key=timestamps_ms.__getitem__)
    found: set[str] = set()
    for start in range(0, len(order), _LOOKUP_CHUNK):
        chunk = order[start : start + _LOOKUP_CHUNK]
        low = timestamps_ms[chunk[0]] if since_ms is None else since_ms
        rows = engine.rows(
            f"SELECT toString(event_id) AS id FROM {table} "
            "WHERE project = {p:String} "
            "AND ts >= fromUnixTimestamp64Milli({low:Int64}, 'UTC') "
            # Before the next millisecond: logs keep microseconds.
            "AND ts < fromUnixTimestamp64Milli({high:Int64} + 1, 'UTC') "
            "AND event_id IN (SELECT arrayJoin(arrayMap(x -> toUUID(x), "
            "splitByChar(',', {ids:String}))))",
            {
                "p": project,
                "low": low,
                "high": timestamps_ms[chunk[-1]],
                "ids": ",".join(ids[i] for i in chunk),
            },
        )
        found.update(r["id"] for r in rows)
    return found


def insert_unseen_events(
    engine: Engine,
    names: Sequence[str],
    fill: Callable[[str], None],
    distinct_rows: int | None = None,
) -> int:
    """Insert into the events table the rows `fill` puts in a staging table (of the events
    table's `names` columns) whose (project, event_id) the store lacks, each once; returns
    how many. The check runs in the store over its own index (backfills, replays).
    `distinct_rows`: the caller knows the staged rows are that many, none repeated."""
    staging = f"staging_{uuid.uuid4().hex}"
    columns = ", ".join(names)
    engine.execute(
        f"CREATE TABLE {staging} ENGINE = Memory AS SELECT {columns} FROM {EVENTS} WHERE 0"
    )
    try:
        fill(staging)
        # Does the store hold calls in the staged range? Mostly not (a new store, new
        # history): then the lookup of each staged call is skipped.
        stored = engine.rows(
            f"SELECT count() AS n FROM {EVENTS} WHERE (project, toDate(ts)) IN "
            f"(SELECT DISTINCT project, toDate(ts) FROM {staging})"
        )[0]["n"]
        unseen = (
            f"WHERE (s.project, s.event_id) NOT IN (SELECT project, event_id FROM {EVENTS} "
            f"WHERE (project, ts) IN (SELECT project, ts FROM {staging}))"
            if int(stored)
            else ""
        )
        if unseen or distinct_rows is None:
            new = f"SELECT {columns} FROM {staging} AS s {unseen} LIMIT 1 BY s.project, s.event_id"
            count = int(engine.rows(f"SELECT count() AS n FROM ({new})")[0]["n"])
        else:  # all new, each once: nothing to look up or count
            new, count = f"SELECT {columns} FROM {staging}", distinct_rows
        # The views fed in parallel, and each rollup's block left for the background merges
        # to aggregate (queries aggregate anyway): a quarter faster.
        engine.execute(
            f"INSERT INTO {EVENTS} ({columns}) {new} "
            "SETTINGS parallel_view_processing = 1, optimize_on_insert = 0"
        )
        return count
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {staging}")


def detach_materialized_views(engine: Engine) -> None:
    """Detach every materialized view until the store is next opened and migrated (for
    crash tests: inserts then reach their tables but not the rollups)."""
    for shard in engine.shards():
        views = shard.rows(
            "SELECT name FROM system.tables "
            "WHERE database = currentDatabase() AND engine = 'MaterializedView'"
        )
        for view in views:
            shard.execute(f"DETACH TABLE {view['name']}")


def stored_metric_types(engine: Engine, project: str) -> dict[str, str]:
    """The type of each of the project's custom metrics, by name: a name keeps its type."""
    rows = engine.rows(
        f"SELECT name, any(type) AS type FROM {METRICS} WHERE project = {{p:String}} GROUP BY name",
        {"p": project},
    )
    return {r["name"]: r["type"] for r in rows}

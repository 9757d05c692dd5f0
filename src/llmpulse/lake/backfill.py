"""Backfill: silver Parquet from a lake into a store (the same one or a new one).

Calls the store already has (same project and event_id) are skipped, so a second backfill
adds nothing; erased users (the lake's tombstones and the store's) are never brought back.
Rows go in through the events table, so its materialized views bring the rollups along.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from llmpulse.lake.destination import Destination, LakeError
from llmpulse.lake.export import known_tombstones
from llmpulse.lake.files import drop_erased, read_checked
from llmpulse.lake.manifest import DataFile, live_files, load_all
from llmpulse.lake.schema import SILVER, SILVER_SCHEMA
from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS

# Rows gathered before one insert: fewer, larger inserts (each is a few statements).
_BATCH_ROWS = 500_000
# inserted_at is the target store's own: a backfilled call reached it now.
_COLUMNS = [f.name for f in SILVER_SCHEMA if f.name != "inserted_at"]


@dataclass
class BackfillResult:
    files: int = 0
    rows_read: int = 0
    rows_inserted: int = 0
    rows_erased: int = 0  # left out: their user was erased


def _in_range(entry: DataFile, from_ms: int | None, to_ms: int | None) -> bool:
    lo = datetime.fromisoformat(entry.min_ts).timestamp() * 1000
    hi = datetime.fromisoformat(entry.max_ts).timestamp() * 1000
    return (from_ms is None or hi >= from_ms) and (to_ms is None or lo < to_ms)


def backfill(
    engine: Engine, src: Destination, from_ms: int | None = None, to_ms: int | None = None
) -> BackfillResult:
    manifests = load_all(src)
    if not manifests:
        raise LakeError(f"{src.url} holds no lake: no manifest under _manifests/")
    tombstones = known_tombstones(engine, manifests)
    entries = [f for f in live_files(manifests).values() if f.layer == SILVER]
    result = BackfillResult()
    pending: list[pa.Table] = []
    for entry in sorted(entries, key=lambda f: f.path):
        if not _in_range(entry, from_ms, to_ms):
            continue
        table = read_checked(src, entry)
        result.files += 1
        result.rows_read += table.num_rows
        times = pc.cast(table["ts"], pa.int64())
        if from_ms is not None:
            table = table.filter(pc.greater_equal(times, from_ms))
            times = pc.cast(table["ts"], pa.int64())
        if to_ms is not None:
            table = table.filter(pc.less(times, to_ms))
        kept = drop_erased(table, tombstones)
        result.rows_erased += table.num_rows - kept.num_rows
        pending.append(kept.select(_COLUMNS))
        if sum(t.num_rows for t in pending) >= _BATCH_ROWS:
            result.rows_inserted += _insert_new(engine, pa.concat_tables(pending))
            pending = []
    if pending:
        result.rows_inserted += _insert_new(engine, pa.concat_tables(pending))
    return result


def _insert_new(engine: Engine, table: pa.Table) -> int:
    """Insert the rows whose (project, event_id) the store lacks, each once; returns how
    many. Through a staging table, so the check runs in the store over its own index."""
    if table.num_rows == 0:
        return 0
    staging = f"lake_staging_{uuid.uuid4().hex}"
    columns = ", ".join(_COLUMNS)
    engine.execute(
        f"CREATE TABLE {staging} ENGINE = Memory AS SELECT {columns} FROM {EVENTS} WHERE 0"
    )
    try:
        engine.insert_arrow(staging, table)
        new = (
            f"SELECT {columns} FROM {staging} AS s WHERE (s.project, s.event_id) NOT IN "
            f"(SELECT project, event_id FROM {EVENTS} "
            f"WHERE (project, ts) IN (SELECT project, ts FROM {staging})) "
            "LIMIT 1 BY s.project, s.event_id"
        )
        count = int(engine.rows(f"SELECT count() AS n FROM ({new})")[0]["n"])
        engine.execute(f"INSERT INTO {EVENTS} ({columns}) {new}")
        return count
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {staging}")

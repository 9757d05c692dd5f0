"""Backfill: a lake's calls (silver, or bronze's accepted events) into a store, the same
one or a new one.

Calls the store already has (same project and event_id) are skipped, so a second backfill
adds nothing; erased users (the lake's tombstones and the store's) are never brought back.
Rows go in through the events table, so its materialized views bring the rollups along.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from llmpulse.events.normalize import Batch
from llmpulse.events.schema import EVENT_FIELDS
from llmpulse.lake.destination import Destination, LakeError
from llmpulse.lake.export import known_tombstones
from llmpulse.lake.files import drop_erased, read_ahead
from llmpulse.lake.manifest import DataFile, Tombstone, live_files, load_all
from llmpulse.lake.schema import BRONZE, PARTITION_TIME, SILVER, SILVER_SCHEMA
from llmpulse.store.engine import Engine
from llmpulse.store.writes import insert_unseen_events

# Rows gathered before one insert: fewer, larger inserts leave the store fewer parts to
# merge meanwhile (10M calls: 63 s in batches of 500k, 53 s in batches of 2M, at a peak
# of 4.3 GB resident against 2.8).
_BATCH_ROWS = 2_000_000
# The ingest path's validation, normalization and pricing of a project's v1 events
# (Normalizer.batch with the project's prices), for bronze backfills with --reprocess.
Reprocess = Callable[[list[dict[str, Any]], str, int], Batch]
# inserted_at is the target store's own: a backfilled call reached it now.
_COLUMNS = [f.name for f in SILVER_SCHEMA if f.name != "inserted_at"]


@dataclass
class BackfillResult:
    files: int = 0
    rows_read: int = 0
    rows_inserted: int = 0
    rows_erased: int = 0  # left out: their user was erased
    rows_invalid: int = 0  # bronze: a payload that is not a call, or fails validation again
    reasons: list[str] = field(default_factory=list)  # the first few invalid rows' reasons

    def invalid(self, count: int, reasons: list[str]) -> None:
        self.rows_invalid += count
        self.reasons += reasons[: max(0, 5 - len(self.reasons))]


def _in_range(entry: DataFile, from_ms: int | None, to_ms: int | None) -> bool:
    lo = datetime.fromisoformat(entry.min_ts).timestamp() * 1000
    hi = datetime.fromisoformat(entry.max_ts).timestamp() * 1000
    return (from_ms is None or hi >= from_ms) and (to_ms is None or lo < to_ms)


def _between(table: pa.Table, column: str, from_ms: int | None, to_ms: int | None) -> pa.Table:
    if from_ms is None and to_ms is None:
        return table
    times = pc.cast(table[column], pa.int64())
    keep = pc.and_(
        pc.greater_equal(times, from_ms if from_ms is not None else -(2**62)),
        pc.less(times, to_ms if to_ms is not None else 2**62),
    )
    return table.filter(keep)


def backfill(
    engine: Engine,
    src: Destination,
    from_ms: int | None = None,
    to_ms: int | None = None,
    layer: str = SILVER,
    reprocess: Reprocess | None = None,
) -> BackfillResult:
    """Load a layer's calls into the store: silver as exported; bronze's accepted calls
    from their JSON, checked again, or (`reprocess`) validated, normalized and priced anew
    by the ingest path. Time bounds apply to ts (silver) or to the time
    received (bronze)."""
    if layer not in (SILVER, BRONZE):
        raise LakeError(f"only silver or bronze can be loaded back, not {layer!r}")
    manifests = load_all(src)
    if not manifests:
        raise LakeError(f"{src.url} holds no lake: no manifest under _manifests/")
    tombstones = known_tombstones(engine, manifests)
    entries = sorted(
        (f for f in live_files(manifests).values()
         if f.layer == layer and _in_range(f, from_ms, to_ms)),
        key=lambda f: f.path,
    )  # fmt: skip
    result = BackfillResult()
    pending = _Pending(engine, result)
    for read in read_ahead(src, entries):
        table = _between(read, PARTITION_TIME[layer], from_ms, to_ms)
        result.files += 1
        result.rows_read += table.num_rows
        if layer == SILVER:
            kept = drop_erased(table, tombstones)
            result.rows_erased += table.num_rows - kept.num_rows
            pending.add_arrow(kept.select(_COLUMNS))
        else:
            pending.add_json(_bronze_rows(table, tombstones, result, reprocess))
    pending.flush()
    return result


_REQUIRED = ("project", "ts", "event_id", "model_id", "latency_ms")


def _bronze_rows(
    table: pa.Table,
    tombstones: set[Tombstone],
    result: BackfillResult,
    reprocess: Reprocess | None,
) -> list[bytes]:
    """The accepted calls' rows as JSON lines for the events table."""
    erased = {(t.project, t.user_id): t.erased_at_ms for t in tombstones}
    accepted = table.filter(table["accepted"])
    received = pc.cast(accepted["received_at"], pa.int64()).to_pylist()
    rows: list[dict[str, Any]] = []
    reasons: list[str] = []
    for payload, received_ms in zip(accepted["payload"].to_pylist(), received, strict=True):
        try:
            row = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            reasons.append(f"payload is not JSON: {exc}")
            continue
        missing = [k for k in _REQUIRED if not isinstance(row, dict) or k not in row]
        if missing:
            reasons.append(f"payload lacks {', '.join(missing)}")
            continue
        if received_ms <= erased.get((row["project"], row.get("user_id", "")), -1):
            result.rows_erased += 1
            continue
        rows.append(row)
    if reprocess is not None:
        rows = _reprocessed(rows, reprocess, reasons)
    result.invalid(len(reasons), reasons)
    return [orjson.dumps(r) for r in rows]


def _reprocessed(
    rows: list[dict[str, Any]], reprocess: Reprocess, reasons: list[str]
) -> list[dict[str, Any]]:
    """Stored rows through the ingest path again: as v1 events (the fields a client sends),
    validated, normalized and priced at today's prices."""
    out: list[dict[str, Any]] = []
    by_project: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_project.setdefault(row["project"], []).append(row)
    for project, stored in by_project.items():
        events = [_as_sent(r) for r in stored]
        received_ms = time.time_ns() // 1_000_000
        batch = reprocess(events, project, received_ms)
        reasons += [f"{r.field or 'event'}: {r.error}" for r in batch.rejections]
        for new, old in zip(batch.rows, (stored[i] for i in _kept(batch, len(stored))),
                            strict=True):  # fmt: skip
            out.append({**new, "project": project, "received_at": old["received_at"],
                        "source": old.get("source", "")})  # fmt: skip
    return out


def _as_sent(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the v1 event a client would have sent: stored empties ('' for no
    error type, {} for no metadata) left out, and the cost only when the client reported
    it (a computed cost is computed again, at today's prices)."""
    event = {k: v for k, v in row.items() if k in EVENT_FIELDS and v not in (None, "", {}, [])}
    if row.get("cost_source") != "reported":
        event.pop("cost_usd", None)
    return {**event, "ts": row["ts"].replace(" ", "T") + "Z"}


def _kept(batch: Batch, count: int) -> list[int]:
    rejected = set(batch.rejected_indexes)
    return [i for i in range(count) if i not in rejected]


class _Pending:
    """Rows gathered for one insert: fewer, larger inserts (each is a few statements)."""

    def __init__(self, engine: Engine, result: BackfillResult) -> None:
        self._engine, self._result = engine, result
        self._tables: list[pa.Table] = []
        self._lines: list[bytes] = []

    def add_arrow(self, table: pa.Table) -> None:
        self._tables.append(table)
        if sum(t.num_rows for t in self._tables) >= _BATCH_ROWS:
            self.flush()

    def add_json(self, lines: list[bytes]) -> None:
        self._lines += lines
        if len(self._lines) >= _BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._tables:
            table = pa.concat_tables(self._tables)
            # Distinct event ids make distinct calls: then the store need not check.
            unique = pc.count_distinct(table["event_id"]).as_py() == table.num_rows
            self._result.rows_inserted += insert_unseen_events(
                self._engine,
                _COLUMNS,
                lambda staging: self._engine.insert_arrow(staging, table),
                table.num_rows if unique else None,
            )
        if self._lines:
            data = b"\n".join(self._lines) + b"\n"
            self._result.rows_inserted += insert_unseen_events(
                self._engine, _COLUMNS, lambda staging: self._engine.insert_json_rows(staging, data)
            )
        self._tables, self._lines = [], []

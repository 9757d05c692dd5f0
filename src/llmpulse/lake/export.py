"""One export run: the rows that reached the store since the last committed watermark, as
Parquet files per layer, project and hour, then the manifest that commits them.

Exactly once: a run first removes files no manifest holds (a run killed before its
manifest leaves only such files), names its files by its run number, and writes its
manifest last; the watermark is the newest manifest's. Late calls (a ts in an hour already
exported) are exported by the run after they reach the store, in a new file of that hour;
gold rewrites the hour whole and its manifest replaces the hour's previous file.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from llmpulse.lake import reads
from llmpulse.lake.destination import Destination, LakeError
from llmpulse.lake.manifest import (
    INCREMENTAL,
    RANGE,
    DataFile,
    Manifest,
    Tombstone,
    live_files,
    load_all,
    orphans,
)
from llmpulse.lake.schema import (
    BRONZE,
    DICTIONARY,
    GOLD,
    LAYERS,
    PARTITION_TIME,
    SCHEMA_VERSION,
    SCHEMAS,
    SILVER,
)
from llmpulse.store.engine import Engine
from llmpulse.store.faults import reached

# Rows inserted in the last seconds are left to the next run: an insert that began before
# the cutoff may still be committing when the run reads.
SETTLE_MS = 30_000
# Rows per Parquet row group: big enough for fast scans, small enough to skip by statistics.
ROW_GROUP = 256 * 1024
_HOUR_MS = 3_600_000


@dataclass
class ExportResult:
    manifest: Manifest | None  # None: nothing new to export
    orphans_removed: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # per layer


def partition_dir(layer: str, project: str, hour_ms: int) -> str:
    t = datetime.fromtimestamp(hour_ms / 1000, UTC)
    return f"{layer}/project={project}/date={t:%Y-%m-%d}/hour={t:%H}"


class _Run:
    """The files of one run, numbered as they are written. Files are encoded and written
    in a thread pool (pyarrow and file writes release the GIL) while the store reads the
    next table; at most two tables wait, which bounds the memory."""

    def __init__(self, dest: Destination, run: int, pool: ThreadPoolExecutor) -> None:
        self.dest, self.run, self._pool = dest, run, pool
        self.files: list[DataFile] = []
        self._numbered = 0
        self._waiting: list[list[Future[DataFile]]] = []

    def finish(self) -> list[DataFile]:
        """Every file, once written."""
        while self._waiting:
            self.files += [job.result() for job in self._waiting.pop(0)]
        return self.files

    def write(self, layer: str, project: str, table: pa.Table) -> None:
        """Write `table`, sorted by the layer's partition time, as a file per hour."""
        if table.num_rows == 0:
            return
        schema = SCHEMAS[layer].with_metadata(
            {"llmpulse.schema_version": str(SCHEMA_VERSION), "llmpulse.layer": layer}
        )
        table = table.cast(schema)
        column = PARTITION_TIME[layer]
        times = pc.cast(table[column], pa.int64()).combine_chunks()
        hours = times.to_numpy() // _HOUR_MS
        starts = [0, *(np.flatnonzero(np.diff(hours)) + 1).tolist(), table.num_rows]
        jobs: list[Future[DataFile]] = []
        for start, end in itertools.pairwise(starts):
            path = (
                f"{partition_dir(layer, project, int(hours[start]) * _HOUR_MS)}"
                f"/part-{self.run:06d}-{self._numbered:05d}.parquet"
            )
            self._numbered += 1
            part = table.slice(start, end - start)
            jobs.append(self._pool.submit(self._write_file, layer, project, path, part))
        self._waiting.append(jobs)
        while len(self._waiting) > 2:
            self.files += [job.result() for job in self._waiting.pop(0)]

    def _write_file(self, layer: str, project: str, path: str, part: pa.Table) -> DataFile:
        sink = pa.BufferOutputStream()
        pq.write_table(part, sink, compression="zstd", row_group_size=ROW_GROUP,
                       use_dictionary=DICTIONARY[layer])  # fmt: skip
        data = sink.getvalue().to_pybytes()
        self.dest.write(path, data)
        lo, hi = pc.min_max(part[PARTITION_TIME[layer]]).values()
        return DataFile(path, layer, project, part.num_rows, len(data),
                        hashlib.sha256(data).hexdigest(), lo.as_py().isoformat(),
                        hi.as_py().isoformat())  # fmt: skip


def export(
    engine: Engine,
    dest: Destination,
    layers: Iterable[str] = LAYERS,
    ts_from_ms: int | None = None,
    ts_to_ms: int | None = None,
    settle_ms: int = SETTLE_MS,
) -> ExportResult:
    """Export what is new since the last run (or, with a ts range, a one-off copy of the
    range into a lake that holds nothing else)."""
    chosen: list[str] = [layer for layer in LAYERS if layer in set(layers)]
    dest.check_writable()
    manifests = load_all(dest)
    mode = RANGE if ts_from_ms is not None or ts_to_ms is not None else INCREMENTAL
    if manifests and (mode == RANGE or manifests[-1].mode == RANGE):
        held = "a one-off copy of a range" if manifests[-1].mode == RANGE else "an incremental lake"
        raise LakeError(
            f"{dest.url} already holds {held}: "
            "export a range (--from/--to) into an empty destination of its own"
        )
    removed = orphans(dest, manifests)
    for path in removed:
        dest.delete(path)

    previous = manifests[-1] if manifests else None
    window = reads.Window(
        previous.watermark_to_ms if previous else None,
        reads.store_now_ms(engine) - settle_ms,
        ts_from_ms,
        ts_to_ms,
    )
    tombstones = set(reads.erased(engine))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        run = _Run(dest, previous.run + 1 if previous else 1, pool)
        rows, replaces = _write_layers(engine, window, chosen, run, manifests, tombstones)
        run.finish()
    if not run.files:
        return ExportResult(None, len(removed), rows)
    manifest = Manifest(
        run=run.run,
        mode=mode,
        schema_version=SCHEMA_VERSION,
        created_at=datetime.now(UTC).isoformat(),
        layers=chosen,
        watermark_from_ms=window.after_ms,
        watermark_to_ms=window.until_ms,
        range_from_ms=ts_from_ms,
        range_to_ms=ts_to_ms,
        files=run.files,
        replaces=sorted(replaces),
        tombstones=sorted(tombstones, key=lambda t: (t.project, t.user_id)),
    )
    reached("lake-before-manifest")  # a crash point for the tests: files written, no commit
    dest.write(manifest.path(), manifest.to_json())  # the commit
    for path in replaces:
        dest.delete(path)
    return ExportResult(manifest, len(removed), rows)


def _write_layers(
    engine: Engine,
    window: reads.Window,
    chosen: list[str],
    run: _Run,
    manifests: list[Manifest],
    tombstones: set[Tombstone],
) -> tuple[dict[str, int], list[str]]:
    """Each chosen layer's rows of the window, a project-day at a time: rows per layer,
    and the gold files the run's gold files replace."""
    replaces: list[str] = []
    rows: dict[str, int] = dict.fromkeys(chosen, 0)
    if SILVER in chosen or GOLD in chosen:
        live = live_files(manifests)
        for project, day in reads.days_to_export(engine, window, "ts"):
            if SILVER in chosen:
                table = reads.silver_day(engine, window, project, day, tombstones)
                run.write(SILVER, project, table)
                rows[SILVER] += table.num_rows
            if GOLD in chosen:
                hours = reads.hours_in_day(engine, window, project, day)
                table = reads.gold_hours(engine, window.until_ms, project, hours, tombstones)
                run.write(GOLD, project, table)
                rows[GOLD] += table.num_rows
                dirs = {partition_dir(GOLD, project, h) + "/" for h in hours}
                replaces += [p for p in live if p.rsplit("/", 1)[0] + "/" in dirs]
    if BRONZE in chosen:
        for project, day in reads.days_to_export(engine, window, "received_at"):
            table = reads.bronze_day(engine, window, project, day, tombstones)
            run.write(BRONZE, project, table)
            rows[BRONZE] += table.num_rows
    return rows, replaces


def known_tombstones(engine: Engine | None, manifests: list[Manifest]) -> set[Tombstone]:
    """Erasures a copy must honour: those the lake recorded and those of the store."""
    found = {t for m in manifests for t in m.tombstones}
    return found | set(reads.erased(engine)) if engine is not None else found

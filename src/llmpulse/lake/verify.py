"""Verify a lake: every file against its manifest (present, same bytes, same rows, the
layer's schema), and, given a store, silver's calls and token sums per project and day
against the store's (erased users left out of both)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from llmpulse.lake import reads
from llmpulse.lake.destination import Destination, LakeError
from llmpulse.lake.export import known_tombstones
from llmpulse.lake.files import drop_erased, read_checked
from llmpulse.lake.manifest import INCREMENTAL, live_files, load_all, orphans
from llmpulse.lake.schema import SILVER, SchemaMismatch
from llmpulse.store.engine import Engine


@dataclass(frozen=True)
class Check:
    subject: str  # a file, or project/day
    check: str
    expected: str
    found: str

    @property
    def ok(self) -> bool:
        return self.expected == self.found


@dataclass
class Report:
    runs: int = 0
    files: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    orphans: int = 0  # ignored: not part of the lake, removed by the next export
    problems: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(dest: Destination, engine: Engine | None = None) -> Report:
    manifests = load_all(dest)
    if not manifests:
        raise LakeError(f"{dest.url} holds no lake: no manifest under _manifests/")
    report = Report(runs=len(manifests), orphans=len(orphans(dest, manifests)))
    tombstones = known_tombstones(engine, manifests)
    lake_days: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for entry in live_files(manifests).values():
        report.files += 1
        try:
            table = read_checked(dest, entry)
        except (LakeError, SchemaMismatch) as exc:
            report.problems.append(Check(entry.path, "file", "as in its manifest", str(exc)))
            continue
        if table.num_rows != entry.rows:
            report.problems.append(Check(entry.path, "rows", str(entry.rows), str(table.num_rows)))
        report.rows[entry.layer] = report.rows.get(entry.layer, 0) + table.num_rows
        if entry.layer == SILVER:
            kept = drop_erased(table, tombstones)
            days = pa.table(
                {"day": pc.cast(pc.cast(kept["ts"], pa.date32()), pa.string()),
                 "tin": pc.cast(kept["tokens_in"], pa.int64()),
                 "tout": pc.cast(kept["tokens_out"], pa.int64())}
            )  # fmt: skip
            by_day = days.group_by("day").aggregate(
                [("tin", "count"), ("tin", "sum"), ("tout", "sum")]
            )
            names = ("day", "tin_count", "tin_sum", "tout_sum")
            for day, n, tin, tout in zip(*(by_day[c].to_pylist() for c in names), strict=True):
                sums = lake_days[(entry.project, day)]
                sums[0] += n
                sums[1] += tin
                sums[2] += tout
    incremental = manifests[-1].mode == INCREMENTAL
    if engine is not None and incremental and SILVER in manifests[-1].layers:
        stored = reads.stored_counts(engine, manifests[-1].watermark_to_ms, tombstones)
        for key in sorted(set(stored) | set(lake_days)):
            row = stored.get(key, {"rows": 0, "tokens_in": 0, "tokens_out": 0})
            lake = lake_days.get(key, [0, 0, 0])
            for name, in_lake in zip(("rows", "tokens_in", "tokens_out"), lake, strict=True):
                check = Check("/".join(key), f"silver {name} vs store", str(row[name]),
                              str(in_lake))  # fmt: skip
                if not check.ok:
                    report.problems.append(check)
    return report

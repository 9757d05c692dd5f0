"""The calls a drift report looks at: each side's calls counted exactly per time bucket,
then a seeded, bounded sample of them drawn in the store (a hash of the event id below a
threshold set from the counts: uniform over the side however its traffic is spread, the
same calls every time), returned as aligned numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import numpy as np

from llmpulse.analytics.drift_sides import Side
from llmpulse.analytics.monitored import COLUMNS, HAS_TEXT, SLICE_DIMENSIONS, Column
from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS

SIDES: Final = ("reference", "current")
_HASH_RANGE: Final = 1 << 32


@dataclass
class Sample:
    """Both sides' sampled calls as aligned arrays (the monitored columns, the slice
    dimensions, side, bucket and which reservoir a call is in), and the exact counts."""

    arrays: dict[str, np.ndarray]  # side: True for the current side
    vocabularies: dict[str, list[str]]  # a category column's values, by code
    counts: dict[str, dict[str, int]]  # side -> calls, text_calls, values of each column
    bucket_s: int

    def mask(self, side: str, column: Column, bucket: int | None = None) -> np.ndarray:
        """The calls of `side` (and bucket) in the column's sample that have a value."""
        a = self.arrays
        keep: np.ndarray = a["side"] == (side == "current")
        keep &= a["in_text" if column.text else "in_plain"]
        if bucket is not None:
            keep &= a["b"] == bucket
        values = a[column.name]
        if column.kind == "numeric":
            keep &= ~np.isnan(values)
        elif column.optional and "" in self.vocabularies[column.name]:
            keep &= values != self.vocabularies[column.name].index("")
        return keep

    def label(self, column: str, code: int) -> str | None:
        """A category's value (None for '')."""
        return self.vocabularies[column][code] or None


def bucket_seconds(reference: Side, current: Side) -> int:
    shortest = min(s.end - s.start for s in (reference, current))
    if shortest >= timedelta(days=2):
        return 86400
    if shortest >= timedelta(hours=2):
        return 3600
    return max(60, int(shortest.total_seconds()))


def _rate(size: int, of: int) -> int:
    """The hash threshold keeping about `size` of `of` calls."""
    return _HASH_RANGE if of <= size else int(_HASH_RANGE * size / of)


def draw(
    engine: Engine,
    scope: Scope,
    reference: Side,
    current: Side,
    columns: list[Column],
    size: int,
    seed: int,
) -> Sample:
    """Two scans: each side's calls counted per time bucket, then sampled with a seeded
    hash of the event id (about `size` calls per side, and as many calls with text for
    the text descriptors)."""
    bucket_s = bucket_seconds(reference, current)
    ref_sql, params = reference.condition("ref")
    cur_sql, cur_params = current.condition("cur")
    params.update(cur_params)
    start, end = min(reference.start, current.start), max(reference.end, current.end)
    where, scope_params = Scope(scope.project, start, end, scope.filters).where()
    params.update(scope_params)
    base = (
        f"if({cur_sql}, 'current', 'reference') AS side, "
        f"toUnixTimestamp(toStartOfInterval(e.ts, toIntervalSecond({bucket_s}))) AS b"
    )
    source = f"FROM {EVENTS} AS e WHERE {where} AND (({ref_sql}) OR ({cur_sql}))"
    optional = [c for c in columns if c.present]
    counted = "".join(f", countIf({c.present}) AS n_{c.name}" for c in optional)
    found = engine.rows(
        f"SELECT {base}, count() AS calls, countIf({HAS_TEXT}) AS text_calls{counted} "
        f"{source} GROUP BY side, b",
        params,
    )
    counts: dict[str, dict[str, int]] = {s: {"calls": 0, "text_calls": 0} for s in SIDES}
    for r in found:
        of_side = counts[r["side"]]
        for key in ["calls", "text_calls", *(f"n_{c.name}" for c in optional)]:
            name = key.removeprefix("n_")
            of_side[name] = of_side.get(name, 0) + int(r[key])
    for of_side in counts.values():
        for c in columns:
            of_side.setdefault(c.name, of_side["calls"])  # every call has a value
    names = list(dict.fromkeys([c.name for c in columns] + list(SLICE_DIMENSIONS)))
    for side in SIDES:
        params[f"plain_{side}"] = _rate(size, counts[side]["calls"])
        params[f"text_{side}"] = _rate(size, counts[side]["text_calls"])
    rate = "if(side = 'current', {{{kind}_current:UInt64}}, {{{kind}_reference:UInt64}})"
    plain = "h < " + rate.format(kind="plain")
    text = f"{HAS_TEXT} AND h < " + rate.format(kind="text")
    # Aliased apart from the columns: a filter on model_id must not read the array.
    arrays = ", ".join(f"groupArray({_sampled(COLUMNS[n])}) AS c_{n}" for n in names)
    rows = engine.rows(
        f"WITH cityHash64(e.event_id, {seed:d}) % {_HASH_RANGE} AS h SELECT {base}, "
        f"groupArray({plain}) AS in_plain, groupArray({text}) AS in_text, {arrays} "
        f"{source} AND (({plain}) OR ({text})) GROUP BY side, b",
        params,
    )
    return Sample(*_arrays(rows, names), counts, bucket_s)


def _sampled(column: Column) -> str:
    # groupArray skips nulls: a missing number travels as NaN (JSON null) to stay aligned.
    return f"ifNull({column.sql}, nan)" if column.kind == "numeric" else column.sql


def _arrays(
    rows: list[dict[str, Any]], names: list[str]
) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """The sample's columns as arrays: numbers as floats (NaN when missing), categories as
    integer codes into their vocabulary (numpy is slow on arrays of strings)."""
    out: dict[str, list[Any]] = {n: [] for n in ["side", "b", "in_plain", "in_text", *names]}
    for r in rows:
        size = len(r["in_plain"])
        out["side"].extend([r["side"] == "current"] * size)
        out["b"].extend([int(r["b"])] * size)
        out["in_plain"].extend(r["in_plain"])
        out["in_text"].extend(r["in_text"])
        for name in names:
            out[name].extend(r[f"c_{name}"])
    arrays: dict[str, np.ndarray] = {}
    vocabularies: dict[str, list[str]] = {}
    for name, values in out.items():
        column = COLUMNS.get(name)
        if column is not None and column.kind == "categorical":
            codes: dict[str, int] = {}
            arrays[name] = np.array([codes.setdefault(v, len(codes)) for v in values], np.int64)
            vocabularies[name] = list(codes)
        elif name == "b":
            arrays[name] = np.array(values, dtype=np.int64)
        else:
            arrays[name] = np.array(values, dtype=float if column else bool)
    return arrays, vocabularies

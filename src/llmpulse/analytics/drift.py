"""Drift: how each monitored column's distribution in a current window differs from a
reference window (or one experiment variant from another), the test that says so, the
slices that moved it, and how it went day by day: over the sample drift_sample.py draws
(calls with text sampled apart, for the text descriptors), each time bucket's share of it
giving the drift-over-time points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from llmpulse.analytics.drift_sample import SIDES, Sample, draw
from llmpulse.analytics.drift_sides import Side, check_sides
from llmpulse.analytics.drift_tests import TESTS, Test, default_test
from llmpulse.analytics.monitored import COLUMNS, SLICE_DIMENSIONS, Column
from llmpulse.query.filters import QueryError, Scope, iso_ms
from llmpulse.store.engine import Engine

SAMPLE: Final = 20_000  # calls per side, by default
MIN_VALUES: Final = 10  # a column with fewer on a side is not tested
DATASET_SHARE: Final = 0.5  # dataset drift when at least this share of columns drifted
HISTOGRAM_BINS: Final = 20
TOP_CATEGORIES: Final = 12
SLICE_MIN_SHARE: Final = 0.01  # slices smaller than this on both sides are not blamed
TOP_SLICES: Final = 5


@dataclass(frozen=True)
class Options:
    columns: tuple[str, ...] = tuple(COLUMNS)
    tests: dict[str, str] = field(default_factory=dict)  # column -> test name
    thresholds: dict[str, float] = field(default_factory=dict)
    sample: int = SAMPLE
    seed: int = 1  # ClickHouse takes seeds from 1
    dataset_share: float = DATASET_SHARE
    over_time: bool = True
    slices: bool = True


def parse_columns(value: str | None) -> tuple[str, ...]:
    if not value:
        return tuple(COLUMNS)
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    for name in names:
        if name not in COLUMNS:
            known = ", ".join(COLUMNS)
            raise QueryError("columns", f"unknown column {name!r}; monitorable: {known}", 422)
    return names


def parse_overrides(value: str | None, param: str, columns: tuple[str, ...]) -> dict[str, str]:
    """`COLUMN:VALUE,...` for columns among those reported."""
    out: dict[str, str] = {}
    for part in (value or "").split(","):
        if not part.strip():
            continue
        name, colon, setting = (s.strip() for s in part.partition(":"))
        if not colon or not setting:
            raise QueryError(param, f"{part!r}: give COLUMN:VALUE", 422)
        if name not in columns:
            raise QueryError(param, f"{name!r} is not among the columns reported", 422)
        out[name] = setting
    return out


def parse_tests(value: str | None, columns: tuple[str, ...]) -> dict[str, str]:
    chosen = parse_overrides(value, "tests", columns)
    for name, test in chosen.items():
        if test not in TESTS:
            raise QueryError("tests", f"unknown test {test!r}; one of {', '.join(TESTS)}", 422)
        if COLUMNS[name].kind not in TESTS[test].kinds:
            raise QueryError("tests", f"{test} cannot test the {COLUMNS[name].kind} {name}", 422)
    return chosen


def parse_thresholds(value: str | None, columns: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, text in parse_overrides(value, "thresholds", columns).items():
        try:
            out[name] = float(text)
        except ValueError:
            raise QueryError("thresholds", f"{text!r} is not a number", 422) from None
        if not 0 < out[name] < math.inf:
            raise QueryError("thresholds", f"{name}: must be above 0", 422)
    return out


# -- the report -----------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 6)


def _distribution(
    ref: np.ndarray, cur: np.ndarray, column: Column, sample: Sample
) -> dict[str, Any]:
    """Both sides' shares for a plot: histogram bins up to the 99th percentile (higher
    values in the last bin), or the top categories and the rest as 'other'."""
    if column.kind == "numeric":
        both = np.concatenate([ref, cur])
        low, high = float(both.min()), float(np.percentile(both, 99))
        high = high if high > low else low + 1
        edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
        bins = [np.histogram(np.clip(v, low, high), edges)[0] / len(v) for v in (ref, cur)]
        return {
            "edges": [round(float(e), 6) for e in edges],
            "reference": [round(float(s), 6) for s in bins[0].tolist()],
            "current": [round(float(s), 6) for s in bins[1].tolist()],
        }
    values, counts = np.unique(np.concatenate([ref, cur]), return_counts=True)
    top = values[np.argsort(-counts, kind="stable")][:TOP_CATEGORIES].tolist()
    out: dict[str, Any] = {"categories": [sample.label(column.name, v) for v in top]}
    for name, side in (("reference", ref), ("current", cur)):
        shares = [float(np.mean(side == v)) for v in top]
        out[name] = [round(s, 6) for s in shares]
        if len(values) > len(top):
            out[name].append(round(max(0.0, 1 - sum(shares)), 6))
    if len(values) > len(top):
        out["categories"].append("(other)")
    return out


def _slices(sample: Sample, column: Column) -> list[dict[str, Any]]:
    """The slices whose removal from both sides shrinks the shift the most: the share of
    the distance (Wasserstein for numbers, Jensen-Shannon for categories) gone without
    them."""
    measure = TESTS["wasserstein" if column.kind == "numeric" else "jensenshannon"]
    ref_mask, cur_mask = (sample.mask(s, column) for s in SIDES)
    values = sample.arrays[column.name]
    whole = measure.score(values[ref_mask], values[cur_mask], column.kind)
    if not whole or not math.isfinite(whole):
        return []
    found: list[dict[str, Any]] = []
    for dimension in SLICE_DIMENSIONS:
        if dimension == column.name:
            continue
        keys = sample.arrays[dimension]
        for value in np.unique(keys[ref_mask | cur_mask]).tolist():
            inside = keys == value
            ref_share = float(inside[ref_mask].mean()) if ref_mask.any() else 0.0
            cur_share = float(inside[cur_mask].mean()) if cur_mask.any() else 0.0
            if max(ref_share, cur_share) < SLICE_MIN_SHARE:
                continue
            ref_rest, cur_rest = values[ref_mask & ~inside], values[cur_mask & ~inside]
            if len(ref_rest) < MIN_VALUES or len(cur_rest) < MIN_VALUES:
                continue
            rest = measure.score(ref_rest, cur_rest, column.kind)
            found.append(
                {
                    "dimension": dimension,
                    "value": sample.label(dimension, value),
                    "share_of_shift": _finite(max(0.0, (whole - rest) / whole)),
                    "reference_share": round(ref_share, 6),
                    "current_share": round(cur_share, 6),
                }
            )
    found.sort(key=lambda s: -(s["share_of_shift"] or 0))
    return found[:TOP_SLICES]


def _column_report(column: Column, sample: Sample, options: Options) -> dict[str, Any]:
    values = sample.arrays[column.name]
    ref, cur = (values[sample.mask(s, column)] for s in SIDES)
    out: dict[str, Any] = {
        "column": column.name,
        "kind": column.kind,
        "reference_count": sample.counts["reference"][column.name],
        "current_count": sample.counts["current"][column.name],
        "reference_sampled": len(ref),
        "current_sampled": len(cur),
    }
    if len(ref) < MIN_VALUES or len(cur) < MIN_VALUES:
        status = "no_data" if not (len(ref) or len(cur)) else "insufficient_data"
        return {**out, "status": status, "test": None, "score_type": None, "score": None,
                "threshold": None, "drifted": False}  # fmt: skip
    chosen = options.tests.get(column.name)
    test = TESTS[chosen] if chosen else default_test(column.kind, ref, cur, out["reference_count"])
    threshold = options.thresholds.get(column.name, test.threshold)
    score = test.score(ref, cur, column.kind)
    drifted = bool(math.isfinite(score) and test.drifted(score, threshold))
    out |= {
        "status": "ok",
        "test": test.name,
        "score_type": test.score_type,
        "score": _finite(score),
        "threshold": threshold,
        "drifted": drifted,
        "distribution": _distribution(ref, cur, column, sample),
    }
    if options.over_time:
        out["over_time"] = _over_time(column, sample, ref, test, threshold)
    if drifted and options.slices:
        out["slices"] = _slices(sample, column)
    return out


def _over_time(
    column: Column, sample: Sample, ref: np.ndarray, test: Test, threshold: float
) -> list[dict[str, Any]]:
    """Each current bucket's sampled values against the whole reference sample."""
    points = []
    current = sample.arrays["side"]
    values = sample.arrays[column.name]
    for bucket in np.unique(sample.arrays["b"][current]).tolist():
        of_bucket = values[sample.mask("current", column, bucket)]
        enough = len(of_bucket) >= MIN_VALUES
        score = test.score(ref, of_bucket, column.kind) if enough else None
        points.append(
            {
                "t": iso_ms(bucket * 1000),
                "values": len(of_bucket),
                "score": _finite(score),
                "drifted": score is not None and bool(test.drifted(score, threshold)),
            }
        )
    return points


def report(
    engine: Engine, scope: Scope, reference: Side, current: Side, options: Options
) -> dict[str, Any]:
    check_sides(reference, current)
    columns = [COLUMNS[n] for n in options.columns]
    sample = draw(engine, scope, reference, current, columns, options.sample, options.seed)
    calls = {s: sample.counts[s]["calls"] for s in SIDES}
    on_current, plain = sample.arrays["side"], sample.arrays["in_plain"]
    sampled = {"reference": int((plain & ~on_current).sum()),
               "current": int((plain & on_current).sum())}  # fmt: skip
    answer: dict[str, Any] = {
        "reference": reference.public(calls["reference"], sampled["reference"]),
        "current": current.public(calls["current"], sampled["current"]),
        "sample": {
            "size": options.sample,
            "seed": options.seed,
            "method": "about `size` calls per side, picked by a seeded hash of the event "
            "id, and as many calls with text for the text descriptors",
            "bucket_seconds": sample.bucket_s,
        },
        "dataset_threshold": options.dataset_share,
    }
    if not calls["reference"] or not calls["current"]:
        return answer | {"status": "insufficient_data", "dataset_drift": False,
                         "tested_columns": 0, "drifted_columns": 0, "share_drifted": None,
                         "columns": []}  # fmt: skip
    reports = [_column_report(c, sample, options) for c in columns]
    tested = [r for r in reports if r["status"] == "ok"]
    drifted = sum(r["drifted"] for r in tested)
    share = drifted / len(tested) if tested else None
    return answer | {
        "status": "ok" if tested else "insufficient_data",
        "dataset_drift": share is not None and share >= options.dataset_share,
        "tested_columns": len(tested),
        "drifted_columns": drifted,
        "share_drifted": _finite(share),
        "columns": reports,
    }

"""Data quality of the telemetry itself: is it complete, fresh, continuous, at its usual
volume, free of duplicates, rejections and skewed clocks, stable in shape, and still
coming from everything that used to report? Every check answers pass or fail, a score
from 0 to 1, and its evidence (docs/drift-and-quality.md has each rule and default).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from llmpulse.query.aggregates import number
from llmpulse.query.events import redactions
from llmpulse.query.filters import Scope, iso_ms
from llmpulse.store.engine import Engine
from llmpulse.store.tables import DUPLICATES, EVENTS, REJECTED, ROLLUP_1H

HOUR_S: Final = 3600
MAX_RANGE: Final = timedelta(days=400)  # hour by hour checks: longer ranges are another tool
WEEK_H: Final = 7 * 24
BASELINE_WEEKS: Final = 4
MAD_SCALE: Final = 1.4826  # MAD to a normal standard deviation
LATE_MS: Final = 3_600_000  # an event received more than an hour after its time is late
# A silence is a gap (and a series has stopped) only when this many calls were expected
# in it: a steady series misses them all by luck with probability e^-10 (Poisson), so
# quiet series do not raise a gap at every empty hour.
MIN_MISSED: Final = 10
METADATA_SAMPLE: Final = 200_000  # events per period read for the metadata keys
# Every check, in the report's order.
CHECKS: Final = ("completeness", "freshness", "gaps", "volume", "duplicates", "rejected",
                 "unpriced", "clock_skew", "metadata_schema", "coverage")  # fmt: skip


@dataclass(frozen=True)
class Options:
    completeness: float = 0.998  # overall completeness target
    freshness_s: int = 3600  # newest event at most this old
    gap_s: int = 3600  # silences at least this long are gaps
    volume_z: float = 3.0  # robust z of an hourly count
    volume_change: float = 0.10  # and its relative change, both past these
    duplicates: float = 0.01  # duplicate share at most
    rejected: float = 0.01  # rejected share at most
    unpriced: float = 0.05  # unpriced share at most
    late: float = 0.01  # late share at most


# (name, numerator, denominator) over llm_events: the optional fields a call should carry.
FIELDS: Final = (
    # A stream that failed may never have had a first token.
    ("ttft_ms", "countIf(e.stream AND e.status = 'ok' AND e.ttft_ms IS NOT NULL)",
     "countIf(e.stream AND e.status = 'ok')"),
    ("tokens", "countIf(e.status = 'ok' AND (e.tokens_in > 0 OR e.tokens_out > 0))",
     "countIf(e.status = 'ok')"),
    ("cost_usd", "countIf(e.cost_usd IS NOT NULL)", "count()"),
    ("user_id", "countIf(e.has_user_id)", "count()"),  # flags kept at insert (migration 010)
    ("session_id", "countIf(e.has_session_id)", "count()"),
    ("prompt_version", "countIf(e.prompt_version != '')", "count()"),
)  # fmt: skip


def _check(name: str, passed: bool, score: float, value: Any, threshold: Any,
           evidence: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    return {
        "name": name,
        "status": "pass" if passed else "fail",
        "score": round(max(0.0, min(1.0, score)), 4),
        "value": value,
        "threshold": threshold,
        "evidence": evidence,
    }


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


# grouping(model, provider, feature): a bit per column left out of the row's set, as in
# standard SQL (ClickHouse's force_grouping_standard_compatibility, on by default).
MODEL_ROW: Final = 0b001  # grouped by model and provider
FEATURE_ROW: Final = 0b110
TOTAL_ROW: Final = 0b111


def _per_group(engine: Engine, scope: Scope) -> list[dict[str, Any]]:
    """The figures per model, per feature and in total (`g`), in one scan."""
    where, params = scope.where("e.ts")
    fields = ", ".join(f"{top} AS has_{n}, {bottom} AS of_{n}" for n, top, bottom in FIELDS)
    return engine.rows(
        f"SELECT e.model_id AS m, e.provider AS p, e.feature AS f, "
        f"grouping(e.model_id, e.provider, e.feature) AS g, count() AS calls, {fields}, "
        "toUnixTimestamp64Milli(max(e.ts)) AS newest, "
        "quantiles(0.5, 0.95)(dateDiff('millisecond', e.ts, e.received_at) / 1000) AS lag, "
        f"countIf(dateDiff('millisecond', e.ts, e.received_at) > {LATE_MS}) AS late, "
        "countIf(e.ts > e.received_at) AS ahead, countIf(e.cost_source = 'unpriced') AS unpriced "
        f"FROM {EVENTS} AS e WHERE {where} "
        "GROUP BY GROUPING SETS ((e.model_id, e.provider), (e.feature), ())",
        params,
    )


def _completeness(row: dict[str, Any]) -> dict[str, Any]:
    fields = {}
    present = expected = 0
    for name, _, _ in FIELDS:
        has, of = int(row[f"has_{name}"]), int(row[f"of_{name}"])
        fields[name] = _share(has, of)
        present, expected = present + has, expected + of
    return {"overall": _share(present, expected), "fields": fields}


def _hourly(engine: Engine, scope: Scope) -> dict[str, dict[int, int]]:
    """Calls per hour (epoch s) of the range and the BASELINE_WEEKS before it: the
    project's ('') and each model's, from the hourly rollup."""
    start = scope.start - timedelta(weeks=BASELINE_WEEKS)
    clauses = ["project = {project:String}", "hour >= toStartOfHour({start:DateTime64(3, 'UTC')})",
               "hour < {end:DateTime64(3, 'UTC')}"]  # fmt: skip
    params: dict[str, Any] = {"project": scope.project, "start": start, "end": scope.end}
    for name in ("model_id", "provider"):
        if name in scope.filters:
            clauses.append(f"{name} IN {{f_{name}:Array(String)}}")
            params[f"f_{name}"] = scope.filters[name]
    rows = engine.rows(
        "SELECT model_id AS m, toUnixTimestamp(hour) AS h, sum(requests) AS n "
        f"FROM {ROLLUP_1H} WHERE {' AND '.join(clauses)} GROUP BY m, h",
        params,
    )
    out: dict[str, dict[int, int]] = defaultdict(dict)
    for r in rows:
        hour, n = int(r["h"]), int(r["n"])
        out[r["m"]][hour] = n
        out[""][hour] = out[""].get(hour, 0) + n
    return out


def _baseline(counts: dict[int, int], hour: int, first: int) -> list[int]:
    """The same hour of the week in the BASELINE_WEEKS before `hour`, from the first hour
    the series has data."""
    earlier = (hour - w * WEEK_H * HOUR_S for w in range(1, BASELINE_WEEKS + 1))
    return [counts.get(h, 0) for h in earlier if h >= first]


def _hours(scope: Scope) -> list[int]:
    first = int(scope.start.timestamp()) // HOUR_S * HOUR_S
    last = int(scope.end.timestamp()) // HOUR_S * HOUR_S  # the current hour is not over
    return list(range(first, last, HOUR_S))


def _gaps(series: dict[str, dict[int, int]], scope: Scope, o: Options) -> list[dict[str, Any]]:
    """Runs of empty hours at least gap_s long in which the series expected MIN_MISSED
    calls or more: its hour-of-week baseline (median), or without history its median hour
    in the range."""
    found = []
    hours = _hours(scope)
    for model, counts in series.items():
        if not counts:
            continue
        first = min(counts)
        in_range = [counts.get(h, 0) for h in hours if h >= first]
        usual = statistics.median(in_range) if in_range else 0
        run: list[tuple[int, float]] = []
        for h in [*hours, None]:
            empty = h is not None and h >= first and counts.get(h, 0) == 0
            if empty:
                assert h is not None
                base = _baseline(counts, h, first)
                run.append((h, statistics.median(base) if base else usual))
                continue
            expected = sum(e for _, e in run)
            if run and len(run) * HOUR_S >= o.gap_s and expected >= MIN_MISSED:
                found.append(
                    {
                        "model_id": model or None,
                        "from": iso_ms(run[0][0] * 1000),
                        "to": iso_ms((run[-1][0] + HOUR_S) * 1000),
                        "hours": len(run),
                        "expected_calls": round(expected, 1),
                    }
                )
            run = []
    return found


def _anomalies(counts: dict[int, int], scope: Scope, o: Options) -> list[dict[str, Any]]:
    """Hours whose count is far from the same hour in the weeks before (robust z past
    volume_z and a relative change past volume_change); needs two weeks of history."""
    found = []
    first = min(counts) if counts else 0
    for h in _hours(scope):
        base = _baseline(counts, h, first)
        if len(base) < 2:
            continue
        median = statistics.median(base)
        mad = statistics.median(abs(b - median) for b in base) * MAD_SCALE
        # Counts are Poisson at least: a quiet baseline's spread is not taken as zero.
        spread = max(mad, median**0.5, 1.0)
        n = counts.get(h, 0)
        z = (n - median) / spread
        change = (n - median) / median if median else None
        if abs(z) > o.volume_z and (change is None or abs(change) > o.volume_change):
            found.append({"hour": iso_ms(h * 1000), "calls": n, "baseline": median,
                          "robust_z": round(z, 2),
                          "change": None if change is None else round(change, 4)})  # fmt: skip
    return found


def _metadata_drift(engine: Engine, scope: Scope, calls: int) -> dict[str, Any]:
    """Metadata keys of the range against the period as long before it: keys new,
    gone, and whose value type changed (number, bool or string). Over a seeded sample of
    about METADATA_SAMPLE events per period when there are more."""
    span = scope.end - scope.start
    earlier = Scope(scope.project, scope.start - span, scope.start, scope.filters)
    where, params = Scope(scope.project, earlier.start, scope.end, scope.filters).where("e.ts")
    params["middle"] = scope.start
    per_10k = max(1, min(10_000, 10_000 * METADATA_SAMPLE // max(1, calls)))
    rows = engine.rows(
        "SELECT kv.1 AS k, e.ts >= {middle:DateTime64(3, 'UTC')} AS now_, "
        "groupUniqArray(multiIf(kv.2 IN ('true', 'false'), 'bool', "
        "isNotNull(toFloat64OrNull(kv.2)), 'number', 'string')) AS types, count() AS n "
        f"FROM {EVENTS} AS e ARRAY JOIN arrayZip(mapKeys(e.metadata), mapValues(e.metadata)) "
        f"AS kv WHERE {where} AND notEmpty(e.metadata) "
        f"AND cityHash64(e.event_id) % 10000 < {per_10k} GROUP BY k, now_",
        params,
    )
    before = {r["k"]: set(r["types"]) for r in rows if not int(r["now_"])}
    after = {r["k"]: set(r["types"]) for r in rows if int(r["now_"])}
    changed = [
        {"key": k, "before": sorted(before[k]), "now": sorted(after[k])}
        for k in sorted(before.keys() & after.keys())
        if before[k] != after[k]
    ]
    return {
        "new_keys": sorted(after.keys() - before.keys()) if before else [],
        "gone_keys": sorted(before.keys() - after.keys()),
        "type_changes": changed,
    }


def report(engine: Engine, scope: Scope, now: datetime, o: Options) -> dict[str, Any]:
    groups = _per_group(engine, scope)
    total = next((r for r in groups if int(r["g"]) == TOTAL_ROW), None)
    calls = int(total["calls"]) if total else 0
    checks: list[dict[str, Any]] = []
    answer: dict[str, Any] = {
        "from": iso_ms(int(scope.start.timestamp() * 1000)),
        "to": iso_ms(int(scope.end.timestamp() * 1000)),
        "events": calls,
    }
    # completeness
    overall = _completeness(total) if total and calls else {"overall": None, "fields": {}}
    by_model = [
        {"model_id": r["m"], "provider": r["p"] or None, "events": int(r["calls"]),
         "completeness": _completeness(r)["overall"],
         "newest": iso_ms(int(r["newest"])), "unpriced_share": _share(int(r["unpriced"]),
                                                                       int(r["calls"]))}
        for r in groups if int(r["g"]) == MODEL_ROW
    ]  # fmt: skip
    by_model.sort(key=lambda m: -m["events"])
    value = overall["overall"]
    checks.append(_check("completeness", value is not None and value >= o.completeness,
                         value or 0.0, value, o.completeness, overall))  # fmt: skip
    # freshness and lag
    newest = int(total["newest"]) / 1000 if total and calls else None
    age = now.timestamp() - newest if newest is not None else None
    lag = [number(v) for v in total["lag"]] if total and calls else [None, None]
    checks.append(_check(
        "freshness", age is not None and age <= o.freshness_s,
        1.0 if age is not None and age <= o.freshness_s else 0.0,
        None if age is None else round(age, 1), o.freshness_s,
        {"newest": None if newest is None else iso_ms(int(newest * 1000)),
         "ingest_lag_p50_s": lag[0], "ingest_lag_p95_s": lag[1]},
    ))  # fmt: skip
    # gaps and volume
    series = _hourly(engine, scope)
    gaps = _gaps(series, scope, o)
    rule = f"silences of {o.gap_s // 60} min or more, {MIN_MISSED}+ calls expected"
    checks.append(_check("gaps", not gaps, float(not gaps), len(gaps), rule, {"gaps": gaps}))
    anomalies = _anomalies(series.get("", {}), scope, o)
    hours = max(1, len(_hours(scope)))
    checks.append(_check("volume", not anomalies, 1 - len(anomalies) / hours, len(anomalies),
                         f"|robust z| <= {o.volume_z} or change <= {o.volume_change:.0%}",
                         {"anomalies": anomalies}))  # fmt: skip
    # duplicates, rejections, unpriced, clocks
    checks += _intake_checks(engine, scope, total, by_model, o)
    # shape and coverage
    shape = _metadata_drift(engine, scope, calls)
    changes = len(shape["gone_keys"]) + len(shape["type_changes"]) + len(shape["new_keys"])
    checks.append(
        _check("metadata_schema", not changes, float(not changes), changes,
               "no keys new, gone or retyped", shape)
    )  # fmt: skip
    stopped = _stopped(groups, scope, o)
    checks.append(
        _check("coverage", not stopped, float(not stopped), len(stopped),
               "nothing stopped reporting", {"stopped": stopped})
    )  # fmt: skip
    failed = [c["name"] for c in checks if c["status"] == "fail"]
    return answer | {
        "status": "fail" if failed else "pass",
        "failed": failed,
        "checks": checks,
        "models": by_model,
        "redactions": redactions(engine, scope),
    }


def _intake_checks(
    engine: Engine,
    scope: Scope,
    total: dict[str, Any] | None,
    by_model: list[dict[str, Any]],
    o: Options,
) -> list[dict[str, Any]]:
    """Duplicates received, rejected events, unpriced calls and clock skew."""
    calls = int(total["calls"]) if total else 0
    dup_rows = engine.rows(
        f"SELECT sum(duplicates) AS n FROM {DUPLICATES} WHERE project = {{project:String}} "
        "AND hour >= toStartOfHour({start:DateTime64(3, 'UTC')}) "
        "AND hour < {end:DateTime64(3, 'UTC')}",
        {"project": scope.project, "start": scope.start, "end": scope.end},
    )
    duplicates = int(dup_rows[0]["n"] or 0) if dup_rows else 0
    dup_share = _share(duplicates, duplicates + calls) or 0.0
    where, params = Scope(scope.project, scope.start, scope.end).where("received_at")
    reasons = engine.rows(
        f"SELECT reason, count() AS n FROM {REJECTED} WHERE {where} "
        "GROUP BY reason ORDER BY n DESC LIMIT 20",
        params,
    )
    rejected = sum(int(r["n"]) for r in reasons)
    rejected_share = _share(rejected, rejected + calls) or 0.0
    unpriced = int(total["unpriced"]) if total else 0
    unpriced_share = _share(unpriced, calls) or 0.0
    unpriced_models = [m["model_id"] for m in by_model if m["unpriced_share"]]
    late, ahead = (int(total["late"]), int(total["ahead"])) if total else (0, 0)
    late_share = _share(late, calls) or 0.0
    future = sum(int(r["n"]) for r in reasons if "in the future" in r["reason"])
    listed = [{"reason": r["reason"], "events": int(r["n"])} for r in reasons]
    clocks = {"late_events": late, "late_share": round(late_share, 6),
              "ahead_of_server": ahead, "rejected_from_future": future}  # fmt: skip
    return [
        _check("duplicates", dup_share <= o.duplicates, 1 - dup_share, duplicates,
               o.duplicates, {"share": round(dup_share, 6)}),
        _check("rejected", rejected_share <= o.rejected, 1 - rejected_share, rejected,
               o.rejected, {"share": round(rejected_share, 6), "reasons": listed}),
        _check("unpriced", unpriced_share <= o.unpriced, 1 - unpriced_share, unpriced,
               o.unpriced, {"share": round(unpriced_share, 6), "models": unpriced_models}),
        _check("clock_skew", late_share <= o.late and not future, 1 - late_share, late,
               o.late, clocks),
    ]  # fmt: skip


def _stopped(groups: list[dict[str, Any]], scope: Scope, o: Options) -> list[dict[str, Any]]:
    """Models, providers and features seen in the range whose last call is over gap_s
    before its end although their rate in the range would have made MIN_MISSED calls
    since."""
    series: list[tuple[str, str, int, int]] = []  # (kind, name, calls, newest ms)
    providers: dict[str, tuple[int, int]] = {}
    for r in groups:
        g, calls, newest = int(r["g"]), int(r["calls"]), int(r["newest"])
        if g == MODEL_ROW:
            series.append(("model_id", r["m"], calls, newest))
            if r["p"]:
                before = providers.get(r["p"], (0, 0))
                providers[r["p"]] = (before[0] + calls, max(before[1], newest))
        elif g == FEATURE_ROW and r["f"]:
            series.append(("feature", r["f"], calls, newest))
    series += [("provider", name, n, newest) for name, (n, newest) in providers.items()]
    end_ms = scope.end.timestamp() * 1000
    span_ms = max(1.0, end_ms - scope.start.timestamp() * 1000)
    out = []
    for kind, name, calls, newest in series:
        silent_ms = end_ms - newest
        expected = calls * silent_ms / span_ms
        if silent_ms >= o.gap_s * 1000 and expected >= MIN_MISSED:
            out.append({kind: name, "last_seen": iso_ms(newest),
                        "expected_calls_since": round(expected, 1)})  # fmt: skip
    return out

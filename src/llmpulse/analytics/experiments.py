"""Experiments: is variant B better than A, by how much, how sure are we — from the calls'
own telemetry (every event carries its experiment name and variant).

Per variant and metric: the value with its CI, the difference to the control (absolute
and relative) with its CI, and a p-value; Holm-adjusted across everything shown; a sample
ratio mismatch check; and a guardrail verdict. docs/experiments.md names every test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Final

import numpy as np

from llmpulse.analytics import compare, stats
from llmpulse.analytics.options import Options, Result, Unit
from llmpulse.analytics.verdict import verdict, withheld, worst
from llmpulse.api.errors import ApiError, FieldError
from llmpulse.query import scores
from llmpulse.query.filters import Scope, iso_ms
from llmpulse.store.engine import Engine, Param
from llmpulse.store.tables import EVENTS

PerUser = dict[str, dict[str, stats.RatioSums]]  # metric -> variant -> per-user sums
USER_COVERAGE: Final = 0.95  # share of calls with a user_id for `auto` to consider users
SAMPLE: Final = 2000  # calls per variant the percentile bootstrap resamples
SRM_ALPHA: Final = 0.001
# The percentiles shown: column -> (metric, level), bootstrapped together.
PERCENTILES: Final = {
    "latency_ms": (("latency_p50", 0.5), ("latency_p95", 0.95)),
    "ttft_ms": (("ttft_p95", 0.95),),
}


# -- which experiments exist --------------------------------------------------------------


def list_experiments(engine: Engine, scope: Scope) -> dict[str, Any]:
    """The experiments with calls in the range: per variant, calls, users (with an id,
    counted by a 64-bit hash: twice as fast as the strings), first and last seen."""
    where, params = scope.where()
    rows = engine.rows(
        f"""
        SELECT experiment_name AS name, experiment_variant AS variant, count() AS events,
            uniqExactIf(cityHash64(user_id), user_id != '') AS users,
            toUnixTimestamp64Milli(min(ts)) AS first_ms, toUnixTimestamp64Milli(max(ts)) AS last_ms
        FROM {EVENTS} WHERE {where} AND experiment_name != ''
        GROUP BY name, variant ORDER BY name, variant
        """,
        params,
    )
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        e = out.setdefault(
            r["name"],
            {
                "name": r["name"],
                "variants": [],
                "events": 0,
                "first_ms": r["first_ms"],
                "last_ms": r["last_ms"],
            },
        )
        e["variants"].append({"variant": r["variant"], "events": r["events"], "users": r["users"]})
        e["events"] += r["events"]
        e["first_ms"], e["last_ms"] = (
            min(e["first_ms"], r["first_ms"]),
            max(e["last_ms"], r["last_ms"]),
        )
    experiments = []
    for e in out.values():
        e["first_seen"], e["last_seen"] = iso_ms(e.pop("first_ms")), iso_ms(e.pop("last_ms"))
        experiments.append(e)
    return {"experiments": experiments}


# -- the report -----------------------------------------------------------------------------


def report(
    engine: Engine, scope: Scope, name: str, options: Options, keep_samples: bool = False
) -> dict[str, Any]:
    """Every metric of every variant against the control, with the verdict; with
    `keep_samples`, the latency and TTFT samples drawn too (the page draws them)."""
    chosen = replace(scope, filters={**scope.filters, "experiment_name": [name]})
    overview = _overview(engine, chosen)
    base = {v: {"events": o["events"], "users": o["users"]} for v, o in overview.variants.items()}
    if not base:
        known = ", ".join(e["name"] for e in list_experiments(engine, scope)["experiments"])
        raise ApiError(404, f"no experiment {name!r} in this range; seen: {known or 'none'}")
    names = sorted(base)
    unit_note = None
    if options.unit == "auto":
        unit, unit_note = _detect_unit(overview)
        options = replace(options, unit=unit)
    control = options.control or names[0]
    if control not in base:
        raise FieldError(
            422, "control", f"{control!r} is not a variant of {name}: {', '.join(names)}"
        )
    answer: dict[str, Any] = {
        "experiment": name,
        "from": iso_ms(int(scope.start.timestamp() * 1000)),
        "to": iso_ms(int(scope.end.timestamp() * 1000)),
        "control": control,
        "method": options.method,
        "unit": options.unit,
        "confidence": options.confidence,
        "notes": _notes(options) + ([unit_note] if unit_note else []),
    }
    answer["srm"] = _srm(base, options)
    if len(names) < 2:
        answer["variants"] = [
            {
                **base[control],
                "variant": control,
                "control": True,
                "metrics": {},
                "verdict": withheld("only one variant seen"),
            }
        ]
        answer["verdict"] = "not_enough_data"
        return answer
    samples = overview.samples
    metrics = _metrics(engine, chosen, overview, samples, control, options)
    compare.adjust(metrics)
    variants: list[dict[str, Any]] = []
    for variant in names:
        shown = {m: results[variant] for m, results in metrics.items() if variant in results}
        entry: dict[str, Any] = {
            **base[variant],
            "variant": variant,
            "control": variant == control,
            "metrics": shown,
        }
        if variant != control:
            entry["verdict"] = verdict(base[variant], base[control], shown, options)
        variants.append(entry)
    answer["variants"] = variants
    verdicts = [v["verdict"]["verdict"] for v in variants if not v["control"]]
    answer["verdict"] = verdicts[0] if len(verdicts) == 1 else worst(verdicts)
    if keep_samples:
        answer["samples"] = {
            v: {c: x.tolist() for c, x in cols.items()} for v, cols in samples.items()
        }
    return answer


def _notes(options: Options) -> list[str]:
    notes = [
        "percentiles: fixed-sample bootstrap CIs (seeded, 1,000 resamples of up to 2,000 "
        "calls a variant) and Mann-Whitney U p-values"
    ]
    if options.method == "sequential":
        notes.insert(
            0,
            "rates and means: always-valid confidence sequences (normal mixture, "
            "Howard et al. 2021): looking every day does not inflate errors",
        )
    else:
        notes.insert(0, "rates and means: fixed-sample CIs, valid for one look at a planned size")
    if options.unit == "user":
        notes.append("randomised by user: rates and means per call by the delta method over users")
    return notes


def _detect_unit(overview: Overview) -> tuple[Unit, str]:
    """The unit the data shows was randomised: the user when (nearly) every call has one
    and no user is in two variants; else the call."""
    calls = sum(o["events"] for o in overview.variants.values())
    with_user = sum(o["with_user"] for o in overview.variants.values())
    if with_user < USER_COVERAGE * calls:
        return "event", f"unit: call (detected: {with_user / calls:.0%} of calls have a user_id)"
    if overview.in_two > 0:
        return "event", (
            f"unit: call (detected: users are in more than one variant, {overview.in_two:,})"
        )
    return "user", "unit: user (detected: every user is in one variant; unit=event to override)"


def _srm(base: dict[str, dict[str, int]], options: Options) -> dict[str, Any]:
    names = sorted(base)
    unit = "users" if options.unit == "user" else "events"
    observed = [base[v][unit] for v in names]
    planned = options.split or {v: 1.0 for v in names}
    shares = [planned.get(v, 0.0) for v in names]
    if len(names) < 2 or not all(shares):
        return {
            "p_value": None,
            "mismatch": False,
            "observed": dict(zip(names, observed, strict=True)),
        }
    p = stats.sample_ratio_mismatch(observed, shares)
    total = sum(shares)
    return {
        "p_value": p,
        "mismatch": p < SRM_ALPHA,
        "unit": unit,
        "observed": dict(zip(names, observed, strict=True)),
        "expected_shares": {v: s / total for v, s in zip(names, shares, strict=True)},
        "banner": "Sample ratio mismatch: the variants did not get the planned shares of "
        f"{unit} (p = {p:.2g}); these results are not to be trusted."
        if p < SRM_ALPHA
        else None,
    }


# -- metrics ---------------------------------------------------------------------------------


def _metrics(
    engine: Engine,
    scope: Scope,
    overview: Overview,
    samples: dict[str, dict[str, np.ndarray[Any, Any]]],
    control: str,
    options: Options,
) -> dict[str, dict[str, Result]]:
    """metric -> variant -> result; per call, or by user (the delta method)."""
    out: dict[str, dict[str, Result]] = {}
    variants = overview.variants
    if options.unit == "user":
        for metric, per_variant in overview.per_user.items():
            out[metric] = compare.ratios(per_variant, control, options)
    else:
        out["error_rate"] = compare.rates(
            {v: (int(o["errors"]), int(o["events"])) for v, o in variants.items()},
            control,
            options,
        )
        for metric in ("tokens_out", "cost_per_call", "tokens_per_s"):
            moments = {v: o[metric] for v, o in variants.items() if o[metric].n >= 2}
            out[metric] = compare.means(moments, control, options)
    out.update(_scores(engine, scope, control, options))
    for column, percentiles in PERCENTILES.items():
        out.update(compare.quantiles(variants, samples, column, percentiles, control, options))
    return {m: r for m, r in out.items() if r}


# The delta method's ratio metrics: (numerator, denominator) among the per-user sums.
RATIOS: Final = {
    "error_rate": ("errors", "n"),
    "tokens_out": ("tok", "n"),
    "cost_per_call": ("cost", "cost_n"),
    "tokens_per_s": ("tps_y", "tps_x"),
}


@dataclass(frozen=True)
class Overview:
    variants: dict[str, dict[str, Any]]  # calls, users, errors, moments, percentiles
    per_user: PerUser  # the delta method's per-user sums, over the users with an id
    in_two: int  # users seen in more than one variant
    samples: dict[str, dict[str, np.ndarray[Any, Any]]]  # variant -> column -> sampled calls


def _overview(engine: Engine, scope: Scope) -> Overview:
    """Per variant: calls, users, errors, the moments of the per-call means (from per-user
    sums of x and x squared), the per-user sums of the ratio metrics and the users in two
    variants, all from one scan grouped by user; the DDSketch percentiles and the sample
    for the bootstrap from another."""
    where, params = scope.where()
    gen = "(e.latency_ms - ifNull(e.ttft_ms, 0))"
    tps_ok = f"e.status = 'ok' AND e.tokens_out > 0 AND {gen} > 0"
    priced = "e.cost_usd IS NOT NULL"
    rate = f"e.tokens_out * 1000 / {gen}"
    tokens = "toFloat64(e.tokens_out)"
    # Grouped by a 64-bit hash of the user id: faster than by the string (see `users`).
    per_user = f"""
        SELECT experiment_variant AS v, cityHash64(e.user_id) AS uh, any(e.user_id) AS uid,
            count() AS n, countIf(e.status = 'error') AS errors,
            sum({tokens}) AS tok, sum({tokens} * {tokens}) AS tok2,
            countIf({priced}) AS cost_n, sumIf(e.cost_usd, {priced}) AS cost,
            sumIf(e.cost_usd * e.cost_usd, {priced}) AS cost2,
            countIf({tps_ok}) AS tps_n, sumIf({rate}, {tps_ok}) AS tps,
            sumIf(({rate}) * ({rate}), {tps_ok}) AS tps2,
            sumIf(e.tokens_out, {tps_ok}) AS tps_y, sumIf({gen} / 1000, {tps_ok}) AS tps_x
        FROM {EVENTS} AS e WHERE {where} GROUP BY v, uh
    """
    named = "uid != ''"
    delta = ", ".join(
        f"avgIf({y}, {named}) AS {m}_my, avgIf({x}, {named}) AS {m}_mx, "
        f"varSampIf({y}, {named}) AS {m}_vy, varSampIf({x}, {named}) AS {m}_vx, "
        f"covarSampIf({x}, {y}, {named}) AS {m}_c"
        for m, (y, x) in RATIOS.items()
    )
    # Totals are aliased apart from the per-user columns: an alias is visible to every
    # other aggregate of the query, and sum(errors) AS errors would nest aggregates.
    totals = ", ".join(
        f"sum({c}) AS t_{c}"
        for c in ("n", "errors", "tok", "tok2", "cost_n", "cost", "cost2", "tps_n", "tps", "tps2")
    )
    rows = engine.rows(
        f"""
        SELECT v, grouping(v) AS total, {totals}, countIf({named}) AS users,
            sumIf(n, {named}) AS with_user, uniqExactIf(uh, {named}) AS distinct_users,
            {delta}
        FROM ({per_user}) GROUP BY GROUPING SETS ((v), ())
        """,
        params,
    )
    sizes = {r["v"]: int(r["t_n"]) for r in rows if not r["total"]}
    percentiles = _percentiles_and_sample(engine, scope, sizes)
    variants: dict[str, dict[str, Any]] = {}
    sums: PerUser = {m: {} for m in RATIOS}
    in_two = 0
    for r in rows:
        if r["total"]:
            in_two = sum(int(x["users"]) for x in rows if not x["total"]) - int(r["distinct_users"])
            continue
        q = percentiles[r["v"]]
        variants[r["v"]] = {
            "events": int(r["t_n"]),
            "users": int(r["users"]),
            "with_user": int(r["with_user"]),
            "errors": int(r["t_errors"]),
            "tokens_out": _moments_of_sums(r["t_n"], r["t_tok"], r["t_tok2"]),
            "cost_per_call": _moments_of_sums(r["t_cost_n"], r["t_cost"], r["t_cost2"]),
            "tokens_per_s": _moments_of_sums(r["t_tps_n"], r["t_tps"], r["t_tps2"]),
            "latency_p50": q["lat"][0],
            "latency_p95": q["lat"][1],
            "ttft_p95": q["ttft"][0] if q["ttft_n"] else None,
        }
        for m in RATIOS:
            ratio = stats.RatioSums(
                int(r["users"]), *(_finite(r[f"{m}_{k}"]) for k in ("my", "mx", "vy", "vx", "c"))
            )
            if ratio.n >= 2 and ratio.mean_x > 0:
                sums[m][r["v"]] = ratio
    samples = {v: q["sample"] for v, q in percentiles.items()}
    return Overview(variants, sums, in_two, samples)


def _percentiles_and_sample(
    engine: Engine, scope: Scope, sizes: dict[str, int]
) -> dict[str, dict[str, Any]]:
    """Per variant, the DDSketch percentiles, and in the same scan up to SAMPLE calls for
    the bootstrap, the same every time: those of lowest hash of their time in ms (an
    integer hash of a column the experiment projection has; the event id it lacks). A
    cut on the hash keeps about 1.5 x SAMPLE of each variant; the lowest SAMPLE of those
    are kept here."""
    if not sizes:  # no calls: nothing to ask (an empty array parameter is an error)
        return {}
    where, params = scope.where()
    variants = sorted(sizes)
    cut = [min(2**32, int(2**32 * 1.5 * SAMPLE / max(1, sizes[v]))) for v in variants]
    params_with: dict[str, Param] = {**params, "vs": variants, "cut": cut}
    rows = engine.rows(
        f"""
        WITH toUInt32(intHash64(toUnixTimestamp64Milli(e.ts) + {compare.SEED}) % 4294967296)
            AS h
        SELECT experiment_variant AS v, quantilesDD(0.005, 0.5, 0.95)(e.latency_ms) AS lat,
            quantilesDD(0.005, 0.95)(e.ttft_ms) AS ttft, count(e.ttft_ms) AS ttft_n,
            groupArrayIf((h, e.latency_ms, e.ttft_ms),
                h < {{cut:Array(UInt64)}}[indexOf({{vs:Array(String)}}, experiment_variant)])
                AS drawn
        FROM {EVENTS} AS e WHERE {where} GROUP BY v
        """,
        params_with,
    )
    out = {}
    for r in rows:
        kept = sorted(r["drawn"], key=lambda d: (d[0], d[1]))[:SAMPLE]
        r["sample"] = {
            "latency_ms": np.array([float(d[1]) for d in kept]),
            "ttft_ms": np.array([float(d[2]) for d in kept if d[2] is not None]),
        }
        out[r["v"]] = r
    return out


def _finite(x: Any) -> float:
    """ClickHouse gives nan (avg of nothing) or NULL where there is no value."""
    return float(x) if x is not None and math.isfinite(float(x)) else 0.0


def _moments(n: Any, mean: Any, variance: Any) -> stats.Moments:
    return stats.Moments(int(n), _finite(mean), _finite(variance))


def _moments_of_sums(n: Any, total: Any, squares: Any) -> stats.Moments:
    """A sample's moments from its size, sum and sum of squares."""
    count, s, s2 = int(n), _finite(total), _finite(squares)
    if count == 0:
        return stats.Moments(0, 0.0, 0.0)
    variance = max(0.0, (s2 - s * s / count) / (count - 1)) if count > 1 else 0.0
    return stats.Moments(count, s / count, variance)


def _scores(
    engine: Engine, scope: Scope, control: str, options: Options
) -> dict[str, dict[str, Result]]:
    """Each score of the variants' calls: numeric ones as means (`score:NAME`), boolean
    ones as the share true, categorical ones as each label's share (`score:NAME=LABEL`).
    By user: numeric and boolean ones per call by the delta method (labels not shown)."""
    out: dict[str, dict[str, Result]] = {}
    sql, params = scores.joined(scope, ["experiment_variant", "user_id"])
    if options.unit == "user":
        rows = engine.rows(
            f"""
            SELECT experiment_variant AS v, name, count() AS n, avg(y) AS my, avg(x) AS mx,
                varSamp(y) AS vy, varSamp(x) AS vx, covarSamp(x, y) AS c
            FROM (SELECT experiment_variant, user_id, name, sum(value) AS y, count() AS x
                  FROM ({sql}) WHERE data_type != 'categorical'
                  GROUP BY experiment_variant, user_id, name)
            GROUP BY v, name
            """,
            params,
        )
        ratios: dict[str, dict[str, stats.RatioSums]] = {}
        for r in rows:
            sums = stats.RatioSums(
                int(r["n"]), *(_finite(r[k]) for k in ("my", "mx", "vy", "vx", "c"))
            )
            if sums.n >= 2:
                ratios.setdefault(f"score:{r['name']}", {})[r["v"]] = sums
        return {
            m: compare.ratios(per_variant, control, options) for m, per_variant in ratios.items()
        }
    rows = engine.rows(
        f"""
        SELECT experiment_variant AS v, name, any(data_type) AS kind, count() AS n,
            avg(value) AS mean, varSamp(value) AS var, sumIf(value, data_type = 'boolean') AS k,
            sumMap([category], [toUInt64(1)]) AS labels
        FROM ({sql}) GROUP BY v, name
        """,
        params,
    )
    rates: dict[str, dict[str, tuple[int, int]]] = {}
    moments: dict[str, dict[str, stats.Moments]] = {}
    labels: dict[str, dict[str, tuple[dict[str, int], int]]] = {}
    for r in rows:
        metric, n = f"score:{r['name']}", int(r["n"])
        if r["kind"] == "numeric":
            if n >= 2:
                moments.setdefault(metric, {})[r["v"]] = _moments(n, r["mean"], r["var"])
        elif r["kind"] == "boolean":
            rates.setdefault(metric, {})[r["v"]] = (int(r["k"]), n)
        else:
            labels.setdefault(metric, {})[r["v"]] = (dict(zip(*r["labels"], strict=True)), n)
    for metric, per_variant in labels.items():
        # A variant none of whose scores has a label has a share of 0 of it, not no share.
        for label in sorted({x for counts, _ in per_variant.values() for x in counts}):
            rates[f"{metric}={label}"] = {
                v: (int(counts.get(label, 0)), n) for v, (counts, n) in per_variant.items()
            }
    for metric, per_variant_moments in moments.items():
        out[metric] = compare.means(per_variant_moments, control, options)
    for metric, counts in rates.items():
        out[metric] = compare.rates(counts, control, options)
    return out


def timeline(
    engine: Engine, scope: Scope, name: str, options: Options, points: int = 24
) -> dict[str, Any]:
    """The verdict as it stood at the end of each step over the range (cumulative from the
    start), for a canary's rollout chart."""
    report(engine, scope, name, options)  # an unknown experiment or control: the error now
    step = max(3600.0, math.ceil((scope.end - scope.start).total_seconds() / points / 3600) * 3600)
    out = []
    end = scope.start
    while end < scope.end:
        end = min(scope.end, end + timedelta(seconds=step))
        try:
            answer = report(engine, replace(scope, end=end), name, options)
        except ApiError:
            continue  # not seen yet at that time (or its control not yet)
        judged = [v for v in answer["variants"] if not v["control"]]
        out.append(
            {
                "t": iso_ms(int(end.timestamp() * 1000)),
                "verdict": answer["verdict"],
                "variants": {v["variant"]: v["verdict"] for v in judged},
                "srm": answer["srm"]["mismatch"],
            }
        )
    return {"experiment": name, "step": step, "points": out}

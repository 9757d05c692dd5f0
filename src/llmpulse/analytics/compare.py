"""Each variant's metric against the control's: the value with its CI, the difference
(absolute and relative) with its CI, and a p-value, by the test that fits the metric
(docs/experiments.md); Holm's adjustment across all of them."""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np

from llmpulse.analytics import stats
from llmpulse.analytics.options import Options, Result

RESAMPLES: Final = 1000  # the percentile bootstrap's resamples
SEED: Final = 20261205  # the same resamples every time


def _relative(diff_ci: tuple[float, float], base: float) -> tuple[float, float] | None:
    return (diff_ci[0] / base, diff_ci[1] / base) if base else None


def _halfwidth(se: float, n: int, critical: float, options: Options) -> float:
    """The half-width of a value's CI: the confidence sequence's, or `critical` x se."""
    if options.method == "sequential":
        return stats.sequential_halfwidth(se, n, options.confidence)
    return critical * se


def _sequential_diff(
    diff: float, se: float, n: int, confidence: float
) -> tuple[tuple[float, float], float]:
    """The always-valid confidence sequence of a difference, and its p-value."""
    half = stats.sequential_halfwidth(se, n, confidence)
    return (diff - half, diff + half), stats.sequential_pvalue(diff, se, n)


def _result(value: float, ci: tuple[float, float], test: str) -> Result:
    return {"value": value, "ci": list(ci), "test": test}


def _with_diff(
    result: Result, control_value: float, diff: float, diff_ci: tuple[float, float], p: float
) -> Result:
    relative_ci = _relative(diff_ci, control_value)
    return {
        **result,
        "diff": diff,
        "diff_ci": list(diff_ci),
        "relative": diff / control_value if control_value else None,
        "relative_ci": list(relative_ci) if relative_ci else None,
        "p_value": p,
    }


def rates(counts: dict[str, tuple[int, int]], control: str, options: Options) -> dict[str, Result]:
    if control not in counts:
        return {}
    kc, nc = counts[control]
    out = {}
    for v, (k, n) in counts.items():
        p = k / n
        se_p = math.sqrt(p * (1 - p) / n)
        if options.method == "sequential":
            half = stats.sequential_halfwidth(se_p, n, options.confidence)
            ci = (max(0.0, p - half), min(1.0, p + half))
        else:
            ci = stats.wilson(k, n, options.confidence)
        test = "two-proportion z-test; Wilson value, Newcombe difference"
        result = _result(p, ci, test if options.method == "fixed" else "confidence sequence")
        if v != control:
            pc = kc / nc
            diff = p - pc
            se = math.sqrt(p * (1 - p) / n + pc * (1 - pc) / nc)
            if options.method == "sequential":
                diff_ci, pv = _sequential_diff(diff, se, n + nc, options.confidence)
            else:
                diff_ci = stats.newcombe(kc, nc, k, n, options.confidence)
                pv = stats.two_proportions(kc, nc, k, n)
            result = _with_diff(result, pc, diff, diff_ci, pv)
        out[v] = result
    return out


def means(moments: dict[str, stats.Moments], control: str, options: Options) -> dict[str, Result]:
    if control not in moments:
        return {}
    c = moments[control]
    out = {}
    for v, m in moments.items():
        se_m = math.sqrt(m.variance / m.n)
        half = _halfwidth(se_m, m.n, stats.t_of(options.confidence, m.n - 1), options)
        result = _result(
            m.mean,
            (m.mean - half, m.mean + half),
            "Welch's t-test" if options.method == "fixed" else "confidence sequence",
        )
        if v != control:
            diff = m.mean - c.mean
            se = math.sqrt(m.variance / m.n + c.variance / c.n)
            if options.method == "sequential":
                diff_ci, pv = _sequential_diff(diff, se, m.n + c.n, options.confidence)
            else:
                low, high, pv = stats.welch(c, m, options.confidence)
                diff_ci = (low, high)
            result = _with_diff(result, c.mean, diff, diff_ci, pv)
        out[v] = result
    return out


def ratios(sums: dict[str, stats.RatioSums], control: str, options: Options) -> dict[str, Result]:
    if control not in sums:
        return {}
    c = sums[control]
    out = {}
    for v, s in sums.items():
        se_r = math.sqrt(s.variance())
        half = _halfwidth(se_r, s.n, stats.z_of(options.confidence), options)
        result = _result(s.ratio, (s.ratio - half, s.ratio + half), "delta method over users")
        if v != control:
            diff = s.ratio - c.ratio
            se = math.sqrt(s.variance() + c.variance())
            if options.method == "sequential":
                diff_ci, pv = _sequential_diff(diff, se, s.n + c.n, options.confidence)
            else:
                low, high, pv = stats.delta_method(c, s, options.confidence)
                diff_ci = (low, high)
            result = _with_diff(result, c.ratio, diff, diff_ci, pv)
        out[v] = result
    return out


def quantiles(
    overview: dict[str, dict[str, Any]],
    samples: dict[str, dict[str, np.ndarray[Any, Any]]],
    column: str,
    percentiles: tuple[tuple[str, float], ...],
    control: str,
    options: Options,
    boots: dict[str, np.ndarray[Any, Any]] | None = None,
) -> dict[str, dict[str, Result]]:
    """The percentiles of one column: each variant's DDSketch value, a bootstrap CI of it
    and of its difference to the control, and Mann-Whitney U on the two samples.

    `boots` keeps each sample's bootstrap (by variant) for calls that compare the same
    samples again in other pairs; each is drawn once, with its own seeded generator."""
    sampled = {v: cols[column] for v, cols in sorted(samples.items()) if cols[column].size >= 2}
    if control not in sampled:
        return {}
    # One bootstrap a variant and column serves every percentile of it, its own CI and,
    # less the control's (drawn independently), the difference's.
    levels = [q for _, q in percentiles]
    boots = {} if boots is None else boots
    for v, x in sampled.items():
        if v not in boots:
            rng = np.random.default_rng([SEED, len(boots)])
            boots[v] = stats.bootstrap_quantiles(x, levels, RESAMPLES, rng)
    p_values = {v: stats.mann_whitney(sampled[control], x) for v, x in sampled.items()}
    out: dict[str, dict[str, Result]] = {}
    for i, (metric, _) in enumerate(percentiles):
        results = {}
        for v in sampled:
            boot = boots[v]
            value, base = overview[v][metric], overview[control][metric]
            ci = stats.percentile_ci(boot[i], options.confidence)
            result = _result(value, ci, "bootstrap CI; Mann-Whitney U")
            if v != control:
                diff_ci = stats.percentile_ci(boot[i] - boots[control][i], options.confidence)
                result = _with_diff(result, base, value - base, diff_ci, p_values[v])
            results[v] = result
        out[metric] = results
    return out


def adjust(metrics: dict[str, dict[str, Result]]) -> None:
    """Holm-adjusted p-values beside the raw ones, across every metric and variant shown."""
    tested = [r for results in metrics.values() for r in results.values() if "p_value" in r]
    for result, adjusted in zip(tested, stats.holm([r["p_value"] for r in tested]), strict=True):
        result["p_adjusted"] = adjusted

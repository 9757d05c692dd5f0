"""The statistics of experiments, each the textbook version (docs/experiments.md names the
source of each): proportions, means, percentiles, multiple comparisons, sample ratio
mismatch, and always-valid confidence sequences."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from scipy import stats

Z95: Final = 1.959963984540054
SEQUENTIAL_TUNING: Final = 5000  # the sample size the confidence sequences are tightest at


def z_of(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def t_of(confidence: float, df: float) -> float:
    """The two-sided Student's t critical value."""
    return float(stats.t.ppf(0.5 + confidence / 2, df))


def wilson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """(lower, upper) Wilson score bounds of successes/trials; (0, 1) with no trials."""
    if trials <= 0:
        return 0.0, 1.0
    z = z_of(confidence)
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    denominator = 1 + z * z / trials
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


def newcombe(
    k_control: int, n_control: int, k_variant: int, n_variant: int, confidence: float = 0.95
) -> tuple[float, float]:
    """CI of p_variant - p_control by Newcombe's hybrid score method (his method 10), from
    the two Wilson intervals."""
    p1, p2 = k_control / n_control, k_variant / n_variant
    l1, u1 = wilson(k_control, n_control, confidence)
    l2, u2 = wilson(k_variant, n_variant, confidence)
    d = p2 - p1
    return (
        d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2),
        d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2),
    )


def two_proportions(k_control: int, n_control: int, k_variant: int, n_variant: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    pooled = (k_control + k_variant) / (n_control + n_variant)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_variant))
    if se == 0:
        return 1.0
    z = (k_variant / n_variant - k_control / n_control) / se
    return float(2 * stats.norm.sf(abs(z)))


@dataclass(frozen=True)
class Moments:
    """What a mean's test needs of a sample: its size, mean and (sample) variance."""

    n: int
    mean: float
    variance: float


def welch(
    control: Moments, variant: Moments, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(lower, upper) CI of mean_variant - mean_control and the two-sided p-value of
    Welch's t-test (Welch-Satterthwaite degrees of freedom)."""
    a, b = control.variance / control.n, variant.variance / variant.n
    se = math.sqrt(a + b)
    diff = variant.mean - control.mean
    if se == 0:
        return diff, diff, 1.0 if diff == 0 else 0.0
    df = (a + b) ** 2 / (a * a / (control.n - 1) + b * b / (variant.n - 1))
    t = t_of(confidence, df)
    return diff - t * se, diff + t * se, float(2 * stats.t.sf(abs(diff / se), df))


@dataclass(frozen=True)
class RatioSums:
    """Per randomisation unit (user): sums of a ratio metric's numerator (y) and
    denominator (x), for the delta method."""

    n: int
    mean_y: float
    mean_x: float
    var_y: float
    var_x: float
    cov_xy: float

    @property
    def ratio(self) -> float:
        return self.mean_y / self.mean_x

    def variance(self) -> float:
        """Var(ratio) by the delta method: (Var y - 2R Cov(x,y) + R² Var x) / (n x̄²)."""
        r = self.ratio
        spread = self.var_y - 2 * r * self.cov_xy + r * r * self.var_x
        return max(0.0, spread) / (self.n * self.mean_x**2)


def delta_method(
    control: RatioSums, variant: RatioSums, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(lower, upper) CI of ratio_variant - ratio_control, and the two-sided p-value, by
    the delta method (normal approximation) over units."""
    diff = variant.ratio - control.ratio
    se = math.sqrt(control.variance() + variant.variance())
    if se == 0:
        return diff, diff, 1.0 if diff == 0 else 0.0
    z = z_of(confidence)
    return diff - z * se, diff + z * se, float(2 * stats.norm.sf(abs(diff / se)))


def bootstrap_quantiles(
    sample: np.ndarray[Any, Any], levels: list[float], resamples: int, rng: np.random.Generator
) -> np.ndarray[Any, Any]:
    """Each quantile `levels` (rows) of each of `resamples` resamples (columns), drawn with
    replacement from `sample`, linearly interpolated like numpy's default.

    A resample is kept as how many times it drew each value of the sorted sample; the
    running sum of those counts says which value holds each rank, so no resample is
    sorted (a third of the time of sorting them)."""
    n = sample.size
    ordered = np.sort(sample)
    picks = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    counts = np.bincount(picks.ravel(), minlength=n * resamples).reshape(resamples, n)
    running = np.cumsum(counts, axis=1)  # [r, i]: values of resample r at or below ordered[i]

    def of_rank(rank: int) -> np.ndarray[Any, Any]:
        return np.asarray(ordered[np.argmax(running > rank, axis=1)])

    rows = []
    for level in levels:
        position = level * (n - 1)
        low = int(np.floor(position))
        below, above = of_rank(low), of_rank(min(low + 1, n - 1))
        rows.append(below + (position - low) * (above - below))
    return np.asarray(rows)


def percentile_ci(values: np.ndarray[Any, Any], confidence: float = 0.95) -> tuple[float, float]:
    """The central `confidence` interval of a bootstrap distribution (the percentile method)."""
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def mann_whitney(control: np.ndarray[Any, Any], variant: np.ndarray[Any, Any]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (do the distributions differ)."""
    if control.size == 0 or variant.size == 0:
        return 1.0
    return float(stats.mannwhitneyu(variant, control, alternative="two-sided").pvalue)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given."""
    order = sorted(range(len(pvalues)), key=pvalues.__getitem__)
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def sample_ratio_mismatch(observed: list[int], shares: list[float]) -> float:
    """p-value of the chi-square test of units per variant against the planned shares."""
    total = sum(observed)
    expected = [total * s / sum(shares) for s in shares]
    return float(stats.chisquare(observed, expected).pvalue)


def sequential_halfwidth(se: float, n: int, confidence: float = 0.95) -> float:
    """Half-width of the always-valid confidence sequence (the normal-mixture boundary of
    Howard et al. 2021, eq. 14) for an estimate with standard error `se` from `n` units,
    mixture tuned for SEQUENTIAL_TUNING units: valid however often it is looked at."""
    alpha = 1 - confidence
    tune = SEQUENTIAL_TUNING
    return se * math.sqrt((1 + tune / n) * math.log((n + tune) / (tune * alpha * alpha)))


def sequential_pvalue(diff: float, se: float, n: int) -> float:
    """The always-valid p-value: the smallest 1 - confidence whose sequence excludes 0."""
    if se == 0:
        return 1.0 if diff == 0 else 0.0
    tune = SEQUENTIAL_TUNING
    scale = 1 + tune / n
    log_p = 0.5 * math.log((n + tune) / tune) - diff * diff / (2 * se * se * scale)
    return min(1.0, math.exp(log_p))

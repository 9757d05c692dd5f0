"""Drift tests between a reference and a current sample of one column, chosen as Evidently
chooses them by default (docs/drift-and-quality.md), computed with scipy.

A test answers a score and whether it says drift: p-values drift below their threshold,
distances at or above theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from scipy import stats
from scipy.spatial import distance

from llmpulse.analytics.monitored import Kind

Values = Sequence[Any]
ScoreType = Literal["p_value", "distance"]
SMALL_REFERENCE: Final = 1000  # at most this many reference values: statistical tests
MIN_DISTINCT_NUMERIC: Final = 5  # a numeric column with fewer values is tested as categories
EMPTY_SHARE: Final = 0.0001  # a bin or category one side lacks, as Evidently fills it
MIN_STD: Final = 0.001  # the Wasserstein normaliser's floor (a constant reference)


@dataclass(frozen=True)
class Test:
    name: str
    score_type: ScoreType
    threshold: float
    kinds: tuple[Kind, ...]
    score: Callable[[np.ndarray, np.ndarray, Kind], float]

    def drifted(self, score: float, threshold: float | None = None) -> bool:
        limit = self.threshold if threshold is None else threshold
        return score < limit if self.score_type == "p_value" else score >= limit


def binned(ref: np.ndarray, cur: np.ndarray, kind: Kind) -> tuple[np.ndarray, np.ndarray]:
    """Both sides' shares over the same bins (numeric: Sturges' edges over both samples)
    or categories (their union); an empty bin takes EMPTY_SHARE, as in Evidently."""
    if kind == "numeric":
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        r = np.histogram(ref, edges)[0] / len(ref)
        c = np.histogram(cur, edges)[0] / len(cur)
    else:
        keys = sorted(set(ref.tolist()) | set(cur.tolist()))
        r = _shares(ref, keys)
        c = _shares(cur, keys)
    return np.where(r == 0, EMPTY_SHARE, r), np.where(c == 0, EMPTY_SHARE, c)


def _shares(values: np.ndarray, keys: list[Any]) -> np.ndarray:
    found, counts = np.unique(values, return_counts=True)
    by_key = dict(zip(found.tolist(), counts.tolist(), strict=True))
    return np.array([by_key.get(k, 0) for k in keys], dtype=float) / len(values)


def _ks(ref: np.ndarray, cur: np.ndarray, kind: Kind) -> float:
    return float(stats.ks_2samp(ref, cur).pvalue)


def _chisquare(ref: np.ndarray, cur: np.ndarray, kind: Kind) -> float:
    keys = sorted(set(ref.tolist()) | set(cur.tolist()))
    if len(keys) < 2:
        return 1.0
    expected = _shares(ref, keys) * len(cur)
    observed = _shares(cur, keys) * len(cur)
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.any((expected == 0) & (observed > 0)):  # a category the reference never had
            return 0.0
        keep = expected > 0
        return float(stats.chisquare(observed[keep], expected[keep]).pvalue)


def _z(ref: np.ndarray, cur: np.ndarray, kind: Kind) -> float:
    """Two proportions' z-test on the share of one of the (at most two) values."""
    keys = sorted(set(ref.tolist()) | set(cur.tolist()))
    if len(keys) < 2:
        return 1.0
    p1, p2 = float(np.mean(ref == keys[0])), float(np.mean(cur == keys[0]))
    pooled = (p1 * len(ref) + p2 * len(cur)) / (len(ref) + len(cur))
    se = np.sqrt(pooled * (1 - pooled) * (1 / len(ref) + 1 / len(cur)))
    return 1.0 if se == 0 else float(2 * stats.norm.sf(abs(p1 - p2) / se))


def _wasserstein(ref: np.ndarray, cur: np.ndarray, kind: Kind) -> float:
    norm = max(float(np.std(ref)), MIN_STD)
    return float(stats.wasserstein_distance(ref, cur) / norm)


def _jensenshannon(ref: np.ndarray, cur: np.ndarray, kind: Kind) -> float:
    r, c = binned(ref, cur, kind)
    return float(distance.jensenshannon(r, c))


def _psi(ref: np.ndarray, cur: np.ndarray, kind: Kind) -> float:
    r, c = binned(ref, cur, kind)
    return float(np.sum((r - c) * np.log(r / c)))


def _hellinger(ref: np.ndarray, cur: np.ndarray, kind: Kind) -> float:
    r, c = binned(ref, cur, kind)
    r, c = r / r.sum(), c / c.sum()
    return float(np.sqrt(np.sum((np.sqrt(r) - np.sqrt(c)) ** 2)) / np.sqrt(2))


BOTH: Final[tuple[Kind, ...]] = ("numeric", "categorical")
TESTS: Final = {
    t.name: t
    for t in (
        Test("ks", "p_value", 0.05, ("numeric",), _ks),
        Test("chisquare", "p_value", 0.05, BOTH, _chisquare),
        Test("z", "p_value", 0.05, BOTH, _z),
        Test("wasserstein", "distance", 0.1, ("numeric",), _wasserstein),
        Test("jensenshannon", "distance", 0.1, BOTH, _jensenshannon),
        Test("psi", "distance", 0.1, BOTH, _psi),
        Test("hellinger", "distance", 0.1, BOTH, _hellinger),
    )
}


def default_test(kind: Kind, ref: np.ndarray, cur: np.ndarray, reference_rows: int) -> Test:
    """Evidently's default: with a small reference, KS for numbers with more than five
    distinct values, else chi-square (z for two values); with a large one, Wasserstein
    (normed) for numbers and Jensen-Shannon for categories."""
    if reference_rows > SMALL_REFERENCE:
        return TESTS["wasserstein" if kind == "numeric" else "jensenshannon"]
    distinct = len(np.unique(ref))
    if kind == "numeric" and distinct > MIN_DISTINCT_NUMERIC:
        return TESTS["ks"]
    both = len(np.unique(np.concatenate([ref, cur]))) if kind == "categorical" else distinct
    return TESTS["z" if both <= 2 else "chisquare"]

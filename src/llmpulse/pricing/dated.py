"""A project's own prices for models, each in force from a date: negotiated discounts, a
model the catalogue does not know yet, a price change. They come before the catalogue.

`ProjectPrices` travels with each ingest request to the worker that prices its events, so
it is small and immutable; `PriceRegistry` holds the current one of each project.
"""

from __future__ import annotations

import bisect
import fnmatch
import threading
from dataclasses import dataclass, field

from llmpulse.pricing.prices import Rates


@dataclass(frozen=True)
class PriceOverride:
    """Prices for models matching `pattern` (a glob, e.g. `gpt-4o*`) from `valid_from_ms`
    on, until a later override of the same pattern."""

    id: str
    pattern: str
    valid_from_ms: int
    rates: Rates

    def matches(self, model_id: str) -> bool:
        return fnmatch.fnmatchcase(model_id, self.pattern)


@dataclass(frozen=True)
class Segment:
    """A span of time [from_ms, to_ms) over which one override (or none) prices a model."""

    from_ms: int
    to_ms: int | None
    override: PriceOverride | None


@dataclass(frozen=True)
class ProjectPrices:
    """One project's overrides. When several patterns match a model, the override that
    started last is in force; at the same start, an exact name beats a pattern."""

    overrides: tuple[PriceOverride, ...] = ()
    _by_model: dict[str, tuple[list[int], list[PriceOverride]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def rates_at(self, model_id: str, ts_ms: int) -> Rates | None:
        if not self.overrides:
            return None
        try:
            starts, found = self._by_model[model_id]
        except KeyError:
            found = self.for_model(model_id)
            starts = [o.valid_from_ms for o in found]
            self._by_model[model_id] = (starts, found)
        i = bisect.bisect_right(starts, ts_ms)
        return found[i - 1].rates if i else None

    def for_model(self, model_id: str) -> list[PriceOverride]:
        """The overrides that apply to the model, by start; at one start, the winner only."""
        matching = [o for o in self.overrides if o.matches(model_id)]
        matching.sort(key=lambda o: (o.valid_from_ms, o.pattern == model_id))
        winners: dict[int, PriceOverride] = {o.valid_from_ms: o for o in matching}
        return [winners[start] for start in sorted(winners)]

    def segments(self, model_id: str, from_ms: int, to_ms: int | None) -> list[Segment]:
        """The spans of [from_ms, to_ms) each priced by one override or by none."""
        found = self.for_model(model_id)
        starts = [o.valid_from_ms for o in found]
        bounds = sorted({from_ms, *(s for s in starts if s > from_ms)})
        bounds = [b for b in bounds if to_ms is None or b < to_ms]
        out = []
        for i, start in enumerate(bounds):
            end = bounds[i + 1] if i + 1 < len(bounds) else to_ms
            k = bisect.bisect_right(starts, start)
            out.append(Segment(start, end, found[k - 1] if k else None))
        return out


class PriceRegistry:
    """The current ProjectPrices of every project; replaced whole on each change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._projects: dict[str, ProjectPrices] = {}

    def get(self, project: str) -> ProjectPrices | None:
        return self._projects.get(project)

    def set(self, project: str, overrides: list[PriceOverride]) -> None:
        with self._lock:
            self._projects = {**self._projects, project: ProjectPrices(tuple(overrides))}

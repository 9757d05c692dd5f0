"""Today's prices of models for a project, to re-price calls: what they would have cost on
another model (tokens kept). Recommendations, routing and caching advice use it.

A price is linear in the token counts within a prompt-size band, so calls need not be
priced one by one: their token sums per band (`bucket_sql` groups them by every band edge
of every candidate) are priced instead, in Python, exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from llmpulse.pricing.dated import PriceRegistry
from llmpulse.pricing.prices import PriceBook, Rates, Schedule

# Each call's four kinds of tokens, summed (cached within input, reasoning within output).
TOKEN_SUMS: Final = (
    "sum(toInt64(e.tokens_in) - least(e.tokens_cached, e.tokens_in)) AS t_uncached, "
    "sum(least(e.tokens_cached, e.tokens_in)) AS t_cached, "
    "sum(toInt64(e.tokens_out) - least(e.tokens_reasoning, e.tokens_out)) AS t_plain, "
    "sum(least(e.tokens_reasoning, e.tokens_out)) AS t_reasoning"
)


@dataclass(frozen=True)
class Repricer:
    """Candidate models' schedules, and the prompt-size buckets their bands split into."""

    schedules: dict[str, Schedule]
    edges: tuple[int, ...]  # every band threshold of every candidate, sorted

    def bucket_sql(self) -> str:
        """The bucket of a call by its prompt size, as SQL (0 without tiers)."""
        if not self.edges:
            return "0"
        branches = ", ".join(f"e.tokens_in <= {t}, {i}" for i, t in enumerate(self.edges))
        return f"multiIf({branches}, {len(self.edges)})"

    def cost(self, model: str, bucket: int, sums: dict[str, Any]) -> float:
        """What calls of one bucket (their TOKEN_SUMS) cost at the model's price."""
        schedule = self.schedules[model]
        # Any prompt size inside the bucket picks the same band of this model.
        size = self.edges[bucket] if bucket < len(self.edges) else (self.edges or (0,))[-1] + 1
        rates = schedule.rates_for(size)
        uncached, cached = int(sums["t_uncached"]), int(sums["t_cached"])
        plain, reasoning = int(sums["t_plain"]), int(sums["t_reasoning"])
        return rates.price(uncached + cached, plain + reasoning, cached, reasoning)


@dataclass(frozen=True)
class Pricing:
    book: PriceBook
    registry: PriceRegistry

    def rates_now(self, project: str, model_id: str, provider: str | None) -> Rates | None:
        """The model's flat rates today (the lowest prompt band when tiered), or None."""
        schedule = self.schedule_now(project, model_id, provider)
        return schedule.bands[0] if schedule.bands else None

    def schedule_now(self, project: str, model_id: str, provider: str | None) -> Schedule:
        """The model's prices today: the project's override in force, else the catalogue's;
        no bands when it has no price."""
        dated = self.registry.get(project)
        rates = dated.rates_at(model_id, time.time_ns() // 1_000_000) if dated else None
        if rates is not None:
            return Schedule(provider, (rates,), source="override")
        return self.book.schedule(model_id, provider)

    def repricer(self, project: str, models: dict[str, str]) -> Repricer:
        """For the models (model -> its provider, '' unknown) that have a price today."""
        schedules = {m: self.schedule_now(project, m, p or None) for m, p in models.items()}
        priced = {m: s for m, s in schedules.items() if s.bands}
        edges = sorted({t for s in priced.values() for t in s.thresholds})
        return Repricer(priced, tuple(edges))

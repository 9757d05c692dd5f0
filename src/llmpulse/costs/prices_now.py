"""Today's prices of models for a project, to re-price calls: what they would have cost on
another model (tokens kept). Recommendations, routing and caching advice use it.

A price is linear in the token counts within a prompt-size band, so calls need not be
priced one by one: their token sums per band (from the cost rollup, or the raw calls at a
range's edges) are priced instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from llmpulse.pricing.dated import PriceRegistry
from llmpulse.pricing.prices import PriceBook, Rates, Schedule
from llmpulse.query.aggregates import BAND_EDGES


@dataclass(frozen=True)
class Repricer:
    """Candidate models' prices, to price token sums per price band (query/aggregates.py
    BAND_EDGES; the cost rollup keeps sums per band). Were a candidate tiered at an edge
    the bands do not know, the calls of the band holding it would all be priced as above
    it (docs/costs.md)."""

    schedules: dict[str, Schedule]

    def cost(self, model: str, band: int, sums: dict[str, Any]) -> float:
        """What priced calls of one band (their PRICED_TOKENS sums) cost at the model's
        price."""
        # Any prompt size inside the band picks the same band of the model's schedule.
        size = BAND_EDGES[band] if band < len(BAND_EDGES) else BAND_EDGES[-1] + 1
        rates = self.schedules[model].rates_for(size)
        uncached, cached = int(sums["priced_uncached"]), int(sums["priced_cached"])
        plain, reasoning = int(sums["priced_plain"]), int(sums["priced_reasoning"])
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
        return Repricer({m: s for m, s in schedules.items() if s.bands})

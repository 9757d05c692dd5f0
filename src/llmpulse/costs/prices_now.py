"""Today's price of a model for a project, as SQL over an `llm_events` row: what a call
would cost if it had gone to that model (re-priced tokens). Recommendations, routing and
caching advice all price the same calls at another model's price through this."""

from __future__ import annotations

import time
from dataclasses import dataclass

from llmpulse.costs.pricing_sql import price_sql, schedule_sql
from llmpulse.pricing.dated import PriceRegistry
from llmpulse.pricing.prices import PriceBook, Rates


@dataclass(frozen=True)
class Pricing:
    book: PriceBook
    registry: PriceRegistry

    def rates_now(self, project: str, model_id: str, provider: str | None) -> Rates | None:
        """The model's flat rates today (the lowest prompt band when tiered), or None."""
        dated = self.registry.get(project)
        rates = dated.rates_at(model_id, time.time_ns() // 1_000_000) if dated else None
        if rates is not None:
            return rates
        bands = self.book.schedule(model_id, provider).bands
        return bands[0] if bands else None

    def cost_sql(self, project: str, model_id: str, provider: str | None) -> str | None:
        """SQL of a call's cost at the model's prices today; None when it has no price."""
        dated = self.registry.get(project)
        rates = dated.rates_at(model_id, time.time_ns() // 1_000_000) if dated else None
        if rates is not None:
            return price_sql(rates)
        schedule = self.book.schedule(model_id, provider)
        return schedule_sql(schedule) if schedule.bands else None

    def costs_sql(self, project: str, models: dict[str, str]) -> dict[str, str]:
        """cost_sql of each model (model -> its provider, '' unknown) that has a price."""
        found = {m: self.cost_sql(project, m, provider or None) for m, provider in models.items()}
        return {m: sql for m, sql in found.items() if sql is not None}

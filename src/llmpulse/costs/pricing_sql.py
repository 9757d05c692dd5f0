"""Prices as ClickHouse expressions over an `llm_events` row, for re-costing stored calls
and for re-pricing a model's calls at another model's prices.

Each expression mirrors pricing.prices.Rates.price: the same operations in the same order,
so a call re-costed in SQL gets the very float it got at ingest.
"""

from __future__ import annotations

from llmpulse.pricing.prices import Rates, Schedule

NULL = "CAST(NULL, 'Nullable(Float64)')"


def price_sql(rates: Rates, col: str = "e.") -> str:
    cached = f"least({col}tokens_cached, {col}tokens_in)"
    reasoning = f"least({col}tokens_reasoning, {col}tokens_out)"
    return (
        f"((toInt64({col}tokens_in) - {cached}) * {rates.input!r} + {cached} * {rates.cached!r}"
        f" + (toInt64({col}tokens_out) - {reasoning}) * {rates.output!r}"
        f" + {reasoning} * {rates.reasoning!r})"
    )


def schedule_sql(schedule: Schedule, col: str = "e.") -> str:
    """The cost by prompt-size band (Schedule.rates_for); NULL for an unpriced model."""
    if not schedule.bands:
        return NULL
    branches = [
        f"{col}tokens_in <= {threshold}, {price_sql(rates, col)}"
        for threshold, rates in zip(schedule.thresholds, schedule.bands, strict=False)
    ]
    last = price_sql(schedule.bands[-1], col)
    return f"multiIf({', '.join(branches)}, {last})" if branches else last

"""Prompt-caching opportunities: calls that share a leading prompt (the same
`prompt_prefix_hash`, which the SDK and proxy record without the text) could read it from
the provider's prompt cache at the cached-input price.

The shared prefix's length is not known, only each call's prompt size: the smallest prompt
of a group bounds it, so it is the estimate (a floor). The first call of a group writes the
cache; each later one could read the prefix. Tokens the calls already read from a cache
(`tokens_cached`) are not counted again. The saving is the cacheable tokens times the
difference of the model's input and cached-input prices today; cache writes, which some
providers charge extra, and cache expiry between calls are not modelled (docs/costs.md).
"""

from __future__ import annotations

from typing import Any, Final

from llmpulse.costs.prices_now import Pricing
from llmpulse.costs.recommend import DAYS_PER_MONTH, link, models_in
from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS

TOP: Final = 10  # prefixes shown per model


def opportunities(engine: Engine, scope: Scope, pricing: Pricing) -> dict[str, Any]:
    where, params = scope.where()
    totals = {r["m"]: int(r["t"]) for r in engine.rows(
        f"SELECT model_id AS m, sum(tokens_in) AS t FROM {EVENTS} WHERE {where} GROUP BY m",
        params)}  # fmt: skip
    rows = engine.rows(
        f"""
        SELECT model_id AS m, prompt_prefix_hash AS h, count() AS n, min(tokens_in) AS prefix,
            sum(tokens_in) AS tokens, sum(tokens_cached) AS cached
        FROM {EVENTS} WHERE {where} AND prompt_prefix_hash != ''
        GROUP BY m, h HAVING n >= 2
        """,
        params,
    )
    providers = models_in(engine, scope)
    days = max((scope.end - scope.start).total_seconds() / 86400, 1 / 24)
    by_model: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        cacheable = max(0, (int(r["n"]) - 1) * int(r["prefix"]) - int(r["cached"]))
        by_model.setdefault(r["m"], []).append(
            {
                "prompt_prefix_hash": r["h"],
                "calls": int(r["n"]),
                "prefix_tokens": int(r["prefix"]),
                "input_tokens": int(r["tokens"]),
                "cached_tokens": int(r["cached"]),
                "cacheable_tokens": cacheable,
            }
        )
    models = []
    for model, prefixes in sorted(by_model.items()):
        rates = pricing.rates_now(scope.project, model, providers.get(model) or None)
        per_token = None if rates is None else rates.input - rates.cached
        for p in prefixes:
            p["saving_usd"] = None if per_token is None else p["cacheable_tokens"] * per_token
        cacheable = sum(p["cacheable_tokens"] for p in prefixes)
        saving = None if per_token is None else cacheable * per_token
        prefixes.sort(key=lambda p: -p["cacheable_tokens"])
        models.append(
            {
                "model_id": model,
                "input_tokens": totals.get(model, 0),
                "repeated_input_tokens": sum(p["input_tokens"] for p in prefixes),
                "share": sum(p["input_tokens"] for p in prefixes) / (totals.get(model) or 1),
                "cacheable_tokens": cacheable,
                "cached_price_discount": None
                if rates is None or not rates.input
                else 1 - rates.cached / rates.input,
                "saving_usd": saving,
                "monthly_saving_usd": None if saving is None else saving / days * DAYS_PER_MONTH,
                "prefixes": prefixes[:TOP],
                "events": link(scope, model_id=model),
            }
        )
    models.sort(key=lambda m: -(m["saving_usd"] or 0))
    return {"models": models}

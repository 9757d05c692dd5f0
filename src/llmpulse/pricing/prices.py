"""Cost per event from token usage: a user price file first, then the genai-prices table.

genai-prices resolves a model in ~90 µs, too slow per event at ingest rates, so each
(provider, model) is resolved once into per-token rates and cached; tiered prices (the
rate depends on prompt size) keep one set of rates per size band.
"""

from __future__ import annotations

import bisect
import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import yaml

CostStatus = Literal["reported", "computed", "unpriced"]
PER_MILLION = 1_000_000

# Provider guessed from the model name when an event does not say; genai-prices knows more.
_PROVIDER_PREFIXES = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("text-embedding-", "openai"),
    ("claude", "anthropic"),
    ("gemini", "google"),
    ("grok", "x-ai"),
    ("mistral", "mistral"),
    ("llama", "ollama"),
    ("qwen", "ollama"),
)


class PriceFileError(ValueError):
    """The --prices file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Rates:
    """USD per token for each kind of token; cached input tokens are a subset of input."""

    input: float
    output: float
    cached: float


class Cost(NamedTuple):  # a tuple, not a dataclass: built once per event, so cheap matters
    usd: float | None
    status: CostStatus
    provider: str | None


def load_price_file(path: Path) -> list[tuple[str, Rates]]:
    """Read a YAML price file: `model-pattern: {input: $/M, output: $/M, cached: $/M}`."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise PriceFileError(f"{path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise PriceFileError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise PriceFileError(f"{path}: expected a mapping of model pattern to prices")
    entries = []
    for pattern, prices in raw.items():
        if not isinstance(prices, dict) or "input" not in prices or "output" not in prices:
            raise PriceFileError(f"{path}: {pattern}: needs 'input' and 'output' ($ per million)")
        try:
            # Cached input costs as much as input unless the file says otherwise.
            per_m = {
                k: float(prices[k] if k in prices else prices["input"])
                for k in ("input", "output", "cached")
            }
        except (TypeError, ValueError) as exc:
            raise PriceFileError(f"{path}: {pattern}: prices must be numbers") from exc
        if any(v < 0 for v in per_m.values()):
            raise PriceFileError(f"{path}: {pattern}: prices must not be negative")
        entries.append((str(pattern), Rates(*(per_m[k] / PER_MILLION for k in per_m))))
    return entries


@dataclass(frozen=True)
class Schedule:
    """Rates by prompt-size band: band i applies when tokens_in is past thresholds[i-1].

    Tiered prices ("cliff" pricing: crossing a threshold re-prices every token) become one
    band per threshold; a prompt exactly on a threshold is costed by genai-prices itself.
    """

    provider: str | None
    bands: tuple[Rates, ...]
    thresholds: tuple[int, ...] = ()

    def rates_for(self, tokens_in: int) -> Rates | None:
        if tokens_in in self.thresholds:
            return None
        return self.bands[bisect.bisect_left(self.thresholds, tokens_in)]


class PriceBook:
    """Prices events; thread-safe, caches one resolution per (provider, model)."""

    def __init__(self, overrides: list[tuple[str, Rates]] | None = None) -> None:
        self._overrides = overrides or []
        self._cache: dict[tuple[str | None, str], Schedule | str | None] = {}

    def cost(
        self,
        model_id: str,
        provider: str | None,
        tokens_in: int,
        tokens_out: int,
        tokens_cached: int,
    ) -> Cost:
        key = (provider, model_id)
        try:
            schedule = self._cache[key]
        except KeyError:
            # A race here resolves the same model twice, harmlessly.
            schedule = self._cache[key] = self._resolve(model_id, provider)
        if not isinstance(schedule, Schedule):
            return Cost(None, "unpriced", provider or schedule)
        provider = provider or schedule.provider
        rates = schedule.rates_for(tokens_in)
        if rates is None:
            usd = _genai_price(model_id, provider, tokens_in, tokens_out, tokens_cached)
            return Cost(usd, "computed", provider)
        cached = min(tokens_cached, tokens_in)
        usd = (tokens_in - cached) * rates.input + cached * rates.cached + tokens_out * rates.output
        return Cost(usd, "computed", provider)

    def _resolve(self, model_id: str, provider: str | None) -> Schedule | str | None:
        """A price schedule, or the best provider guess when the model has no known price."""
        for pattern, rates in self._overrides:
            if fnmatch.fnmatchcase(model_id, pattern):
                return Schedule(provider or guess_provider(model_id), (rates,))
        return _genai_schedule(model_id, provider) or provider or guess_provider(model_id)


def guess_provider(model_id: str) -> str | None:
    name = model_id.lower().rsplit("/", 1)[-1]
    for prefix, provider in _PROVIDER_PREFIXES:
        if name.startswith(prefix):
            return provider
    return None


def _genai_schedule(model_id: str, provider: str | None) -> Schedule | None:
    from genai_prices import Usage, calc_price
    from genai_prices.types import TieredPrices

    try:
        found = calc_price(Usage(input_tokens=1), model_id, provider_id=provider)
    except LookupError:
        return None
    price = found.model_price
    thresholds = sorted(
        {
            tier.start
            for value in vars(price).values()
            if isinstance(value, TieredPrices)
            for tier in value.tiers
        }
    )

    def total(**usage: int) -> float:
        return float(price.calc_price(Usage(**usage))["total_price"])

    def band_rates(prompt: int) -> Rates:
        base = total(input_tokens=prompt)
        return Rates(
            input=base / prompt,
            output=(total(input_tokens=prompt, output_tokens=PER_MILLION) - base) / PER_MILLION,
            cached=total(input_tokens=prompt, cache_read_tokens=prompt) / prompt,
        )

    prompts = [PER_MILLION if not thresholds else 1] + [t + 1 for t in thresholds]
    return Schedule(
        str(found.provider.id), tuple(band_rates(p) for p in prompts), tuple(thresholds)
    )


def _genai_price(
    model_id: str, provider: str | None, tokens_in: int, tokens_out: int, tokens_cached: int
) -> float:
    from genai_prices import Usage, calc_price

    usage = Usage(
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cache_read_tokens=min(tokens_cached, tokens_in),
    )
    return float(calc_price(usage, model_id, provider_id=provider).total_price)

"""Cost per event from token usage: the project's dated overrides first (dated.py), then a
user price file, then the genai-prices catalogue.

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

# Where an event's cost came from: the sender, our catalogue, a user's price, or nowhere.
CostSource = Literal["catalogue", "override", "reported", "unpriced"]
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


RATE_NAMES = ("input", "output", "cached", "reasoning")


class PriceFileError(ValueError):
    """The --prices file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Rates:
    """USD per token for each kind of token. Cached input tokens are a subset of input and
    reasoning tokens a subset of output (as OpenAI and Anthropic count them).

    `price` is mirrored in SQL by costs/pricing_sql.py for re-costing stored events: the
    same operations in the same order, so both give the same float."""

    input: float
    output: float
    cached: float
    reasoning: float

    def price(self, tokens_in: int, tokens_out: int, cached: int, reasoning: int) -> float:
        cached, reasoning = min(cached, tokens_in), min(reasoning, tokens_out)
        return (
            (tokens_in - cached) * self.input
            + cached * self.cached
            + (tokens_out - reasoning) * self.output
            + reasoning * self.reasoning
        )

    @classmethod
    def per_million(
        cls,
        input: float,
        output: float,
        cached: float | None = None,
        reasoning: float | None = None,
    ) -> Rates:
        """Rates from USD per million tokens; cached input costs as much as input and
        reasoning as much as output unless said otherwise."""
        return cls(
            input / PER_MILLION,
            output / PER_MILLION,
            (input if cached is None else cached) / PER_MILLION,
            (output if reasoning is None else reasoning) / PER_MILLION,
        )


class Tokens(NamedTuple):
    """A call's token counts, in the order Rates.price takes them."""

    tokens_in: int
    tokens_out: int
    cached: int
    reasoning: int


class Cost(NamedTuple):  # a tuple, not a dataclass: built once per event, so cheap matters
    usd: float | None
    source: CostSource
    provider: str | None


def load_price_file(path: Path) -> list[tuple[str, Rates]]:
    """Read a YAML price file: `model-pattern: {input: $/M, output: $/M, cached: $/M,
    reasoning: $/M}`."""
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
            per_m = {k: float(v) for k, v in prices.items() if k in RATE_NAMES}
        except (TypeError, ValueError) as exc:
            raise PriceFileError(f"{path}: {pattern}: prices must be numbers") from exc
        if any(v < 0 or v != v for v in per_m.values()):
            raise PriceFileError(f"{path}: {pattern}: prices must not be negative")
        entries.append((str(pattern), Rates.per_million(**per_m)))
    return entries


@dataclass(frozen=True)
class Schedule:
    """Rates by prompt-size band: band i applies when tokens_in is past thresholds[i-1].

    Tiered prices ("cliff" pricing: crossing a threshold re-prices every token) become one
    band per threshold; as in genai-prices, a prompt exactly on a threshold is below it.
    """

    provider: str | None
    bands: tuple[Rates, ...]
    thresholds: tuple[int, ...] = ()
    source: CostSource = "catalogue"

    def rates_for(self, tokens_in: int) -> Rates:
        return self.bands[bisect.bisect_left(self.thresholds, tokens_in)]


class PriceBook:
    """Prices events; thread-safe, caches one resolution per (provider, model)."""

    def __init__(self, overrides: list[tuple[str, Rates]] | None = None) -> None:
        self._overrides = overrides or []
        self._cache: dict[tuple[str | None, str], Schedule] = {}

    def cost(
        self,
        model_id: str,
        provider: str | None,
        tokens: Tokens,
        dated: Rates | None = None,
    ) -> Cost:
        """The cost of one call; `dated` is the project's override in force at its time."""
        schedule = self.schedule(model_id, provider)
        if dated is not None:
            return Cost(dated.price(*tokens), "override", provider or schedule.provider)
        if schedule.source == "unpriced":
            return Cost(None, "unpriced", provider or schedule.provider)
        rates = schedule.rates_for(tokens[0])
        return Cost(rates.price(*tokens), schedule.source, provider or schedule.provider)

    def schedule(self, model_id: str, provider: str | None) -> Schedule:
        """The model's prices without dated overrides; no bands when it has none."""
        key = (provider, model_id)
        try:
            return self._cache[key]
        except KeyError:
            # A race here resolves the same model twice, harmlessly.
            schedule = self._cache[key] = self._resolve(model_id, provider)
            return schedule

    def _resolve(self, model_id: str, provider: str | None) -> Schedule:
        for pattern, rates in self._overrides:
            if fnmatch.fnmatchcase(model_id, pattern):
                return Schedule(provider or guess_provider(model_id), (rates,), source="override")
        found = _genai_schedule(model_id, provider)
        if found is None:  # the best provider guess, and no prices
            return Schedule(provider or guess_provider(model_id), (), source="unpriced")
        return found


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
        output = (total(input_tokens=prompt, output_tokens=PER_MILLION) - base) / PER_MILLION
        return Rates(
            input=base / prompt,
            output=output,
            cached=total(input_tokens=prompt, cache_read_tokens=prompt) / prompt,
            reasoning=output,
        )

    prompts = [PER_MILLION if not thresholds else 1] + [t + 1 for t in thresholds]
    return Schedule(
        str(found.provider.id), tuple(band_rates(p) for p in prompts), tuple(thresholds)
    )

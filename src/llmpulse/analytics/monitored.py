"""The columns drift is watched on: each a number or a category per call, as SQL over
`llm_events` (`e.`), null where the call does not have it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from llmpulse.query.aggregates import GEN_MS, TPS_OK

Kind = Literal["numeric", "categorical"]
# Calls with text: the only ones text descriptors are compared over.
HAS_TEXT: Final = "(e.prompt_chars IS NOT NULL OR e.completion_chars IS NOT NULL)"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    sql: str  # numbers: Float64, null when missing; categories: String, see `optional`
    # Numbers: may be null. Categories: '' means missing (else '' is a category of its
    # own: "no error" is part of the error_type distribution).
    # SQL true when a call has a value (cheap: the count runs over every call); None
    # when every call has one.
    present: str | None = None
    text: bool = False  # a text descriptor: sampled among the calls with text

    @property
    def optional(self) -> bool:
        return self.present is not None


def _numeric(name: str, sql: str | None = None, present: str | None = None) -> Column:
    return Column(name, "numeric", sql or f"toFloat64(e.{name})", present)


def _text_number(name: str) -> Column:
    return Column(name, "numeric", f"toFloat64(e.{name})", f"e.{name} IS NOT NULL", True)


def _category(name: str) -> Column:
    return Column(name, "categorical", f"toString(e.{name})")


def _text_flag(name: str) -> Column:
    sql = f"if(e.{name} IS NULL, '', toString(e.{name}))"
    return Column(name, "categorical", sql, f"e.{name} IS NOT NULL", True)


COLUMNS: Final = {
    c.name: c
    for c in (
        _numeric("latency_ms"),
        # Successful calls only: timeouts (30 s and more) swell the standard deviation the
        # Wasserstein distance is normed by, hiding a model that became slower.
        _numeric("latency_ok_ms", "if(e.status = 'ok', e.latency_ms, NULL)", "e.status = 'ok'"),
        _numeric("ttft_ms", present="e.ttft_ms IS NOT NULL"),
        _numeric("tokens_in"),
        _numeric("tokens_out"),
        _numeric("cost_usd", present="e.cost_usd IS NOT NULL"),
        _numeric("tokens_per_s", f"if({TPS_OK}, e.tokens_out * 1000 / {GEN_MS}, NULL)", TPS_OK),
        _category("model_id"),
        _category("provider"),
        _category("error_type"),
        _category("finish_reason"),
        _category("prompt_version"),
        _category("feature"),
        _text_number("prompt_chars"),
        _text_number("prompt_words"),
        _text_number("completion_chars"),
        _text_number("completion_words"),
        _text_number("completion_sentiment"),
        _text_number("completion_nonletter_share"),
        _text_flag("refusal"),
        _text_flag("json_valid"),
        Column("language", "categorical", "toString(e.language)", "e.language != ''", True),
    )
}
# The dimensions a drifted column's shift is attributed to.
SLICE_DIMENSIONS: Final = ("model_id", "provider", "prompt_version", "feature")

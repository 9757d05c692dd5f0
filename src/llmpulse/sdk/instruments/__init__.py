"""Auto-instrumentation of LLM client libraries."""

from __future__ import annotations

import importlib.util

from llmpulse.sdk.instruments.anthropic import instrument_anthropic, uninstrument_anthropic
from llmpulse.sdk.instruments.openai import instrument_openai, uninstrument_openai

__all__ = [
    "instrument",
    "instrument_anthropic",
    "instrument_openai",
    "uninstrument",
]


def instrument() -> list[str]:
    """Instrument every supported client library that is installed; returns their names."""
    done = []
    for name, instrument_one in (
        ("openai", instrument_openai),
        ("anthropic", instrument_anthropic),
    ):
        if importlib.util.find_spec(name) is not None and instrument_one():
            done.append(name)
    return done


def uninstrument() -> None:
    """Restore every client library's original methods."""
    uninstrument_openai()
    uninstrument_anthropic()

"""One streamed chat completion, timed: shared by the probe and the dashboard playground."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import openai

from llmpulse.probe.prompts import Messages


@dataclass
class Streamed:
    """What a streamed call returned, filled in as it streams (perf_counter times)."""

    started: float = field(default_factory=time.perf_counter)
    first: float | None = None  # the first chunk with text
    end: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    finish_reason: str | None = None


async def stream_chat(
    client: openai.AsyncOpenAI,
    model: str,
    messages: Messages,
    max_tokens: int | None,
    out: Streamed,
) -> AsyncIterator[str]:
    """Yield the answer's text as it arrives; `out` gets the timing, usage (asked for with
    `include_usage`) and finish reason. The client's errors propagate."""
    stream = await client.chat.completions.create(
        model=model,
        messages=cast(Any, messages),
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=max_tokens or openai.omit,
    )
    async for chunk in stream:
        choice = chunk.choices[0] if chunk.choices else None
        delta = choice.delta.content if choice else None
        if delta:
            if out.first is None:
                out.first = time.perf_counter()
            yield delta
        if choice is not None and choice.finish_reason:
            out.finish_reason = choice.finish_reason
        if chunk.usage is not None:
            out.tokens_in = chunk.usage.prompt_tokens
            out.tokens_out = chunk.usage.completion_tokens
    out.end = time.perf_counter()

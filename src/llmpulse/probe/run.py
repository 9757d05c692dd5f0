"""A probe run: prompts sent to an OpenAI-compatible endpoint at a rate or a concurrency,
each call recorded as an event by the SDK's instrumentation, with live figures per model."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import openai

from llmpulse.probe.chat import Streamed, stream_chat
from llmpulse.probe.prompts import Messages


@dataclass
class ModelStats:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    latency_ms: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    tokens_out: int = 0
    generating_s: float = 0.0  # time after the first token, for tokens/s
    errors: dict[str, int] = field(default_factory=dict)

    def quantile(self, values: list[float], q: float) -> float | None:
        if not values:
            return None
        if len(values) == 1:
            return values[0]
        return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens_out / self.generating_s if self.generating_s > 0 else None


@dataclass(frozen=True)
class Plan:
    models: list[str]
    prompts: list[Messages]
    rate: float | None = None  # calls per second; else `concurrency` at a time
    concurrency: int = 1
    count: int | None = None
    duration_s: float | None = None
    loop: bool = False
    stream: bool = False
    max_tokens: int | None = None


def calls(plan: Plan) -> Iterator[tuple[str, Messages]]:
    """(model, messages) in order: every model gets each prompt in turn (--compare)."""
    prompts = itertools.cycle(plan.prompts) if plan.loop else iter(plan.prompts)
    pairs = ((model, p) for p in prompts for model in plan.models)
    return itertools.islice(pairs, plan.count) if plan.count else pairs


class Probe:
    def __init__(self, client: openai.AsyncOpenAI, plan: Plan) -> None:
        self.client = client
        self.plan = plan
        self.stats = {model: ModelStats() for model in plan.models}
        self.started = time.monotonic()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, on_progress: Callable[[], None] | None = None) -> dict[str, ModelStats]:
        pending = calls(self.plan)
        deadline = self.started + self.plan.duration_s if self.plan.duration_s else None

        def more() -> bool:
            return not self._stop.is_set() and (deadline is None or time.monotonic() < deadline)

        async def worker() -> None:
            for model, messages in pending:
                if not more():
                    return
                await self.one(model, messages)
                if on_progress:
                    on_progress()

        if self.plan.rate:
            tasks = []
            interval = 1.0 / self.plan.rate
            for n, (model, messages) in enumerate(pending):
                wait = self.started + n * interval - time.monotonic()
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), wait)
                if not more():
                    break
                tasks.append(asyncio.ensure_future(self.one(model, messages)))
                if on_progress:
                    tasks[-1].add_done_callback(lambda _: on_progress())
            await asyncio.gather(*tasks)
        else:
            await asyncio.gather(*(worker() for _ in range(self.plan.concurrency)))
        return self.stats

    async def one(self, model: str, messages: Messages) -> None:
        stats = self.stats[model]
        stats.sent += 1
        call = Streamed()
        try:
            if self.plan.stream:
                async for _ in stream_chat(
                    self.client, model, messages, self.plan.max_tokens, call
                ):
                    pass
            else:
                response = await self.client.chat.completions.create(
                    model=model,
                    messages=cast(Any, messages),
                    max_tokens=self.plan.max_tokens or openai.omit,
                )
                call.tokens_out = response.usage.completion_tokens if response.usage else None
        except openai.OpenAIError as exc:
            stats.failed += 1
            name = type(exc).__name__
            stats.errors[name] = stats.errors.get(name, 0) + 1
            return
        end = time.perf_counter()
        stats.ok += 1
        stats.latency_ms.append((end - call.started) * 1000)
        stats.tokens_out += call.tokens_out or 0
        if call.first is not None:
            stats.ttft_ms.append((call.first - call.started) * 1000)
        stats.generating_s += end - (call.first or call.started)

"""Calls from the playground: one streamed prompt, or an auto-stream run of a prompt set,
each call recorded as an event of the caller's project (tag `playground`).

These calls spend the operator's LLM key, so routes allow them to admin keys only, an
auto-stream run is capped in count and rate, and its cost can be estimated first.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Final

import openai
import orjson

from llmpulse.api.errors import ApiError, FieldError
from llmpulse.ingest.service import IngestService
from llmpulse.playground.endpoints import Endpoint
from llmpulse.pricing.prices import PriceBook, Tokens
from llmpulse.probe.chat import Streamed, stream_chat
from llmpulse.probe.prompts import BUNDLED, PromptFileError, load_prompts
from llmpulse.sdk.calls import classify

MAX_RUN_CALLS: Final = 1000
MIN_DELAY_S: Final = 0.5  # at most two calls a second per project
DEFAULT_RUN_MAX_TOKENS: Final = 256  # bounds each answer, so the estimate bounds the cost
CHARS_PER_TOKEN: Final = 4  # the usual rough rule for English text


@dataclass
class AutoStream:
    endpoint: str
    model: str
    total: int
    sent: int = 0
    ok: int = 0
    failed: int = 0
    last_latency_ms: float | None = None
    running: bool = True
    task: asyncio.Task[None] | None = None

    def public(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "task"}


@dataclass(frozen=True)
class RunPlan:
    """A checked auto-stream request: the endpoint, the prompts, how many and how fast."""

    endpoint: Endpoint
    model: str
    prompts: list[str]
    count: int
    delay_s: float
    max_tokens: int

    def prompt(self, n: int) -> str:
        return self.prompts[n % len(self.prompts)]


class Playground:
    def __init__(
        self, endpoints: dict[str, Endpoint], ingest: IngestService, prices: PriceBook
    ) -> None:
        self.endpoints = endpoints
        self._ingest = ingest
        self._prices = prices
        self._runs: dict[str, AutoStream] = {}  # by project: one auto-stream each

    def endpoint(self, name: str) -> Endpoint:
        if name not in self.endpoints:
            known = ", ".join(self.endpoints) or "none: start the server with --llm NAME=URL[,KEY]"
            error = f"unknown endpoint {name!r} (configured: {known})"
            raise FieldError(400, "endpoint", "not configured", error)
        return self.endpoints[name]

    def plan(
        self, endpoint: str, model: str, prompts: str, count: int, delay_s: float, max_tokens: int
    ) -> RunPlan:
        try:
            texts = [str(m[-1]["content"]) for m in load_prompts(prompts)]
        except PromptFileError:
            raise FieldError(
                400,
                "prompts",
                "unknown",
                f"unknown prompt set {prompts!r}; use one of {', '.join(BUNDLED)}",
            ) from None
        return RunPlan(self.endpoint(endpoint), model, texts, count, delay_s, max_tokens)

    def estimate(self, plan: RunPlan, project: str) -> dict[str, Any]:
        """What a run would cost at most: prompt tokens estimated from their length, every
        answer as long as max_tokens allows, at today's prices for the project. Unpriced
        models say so, never $0."""
        chars = sum(len(plan.prompt(n)) for n in range(plan.count))
        tokens_in = -(-chars // CHARS_PER_TOKEN)
        tokens_out = plan.count * plan.max_tokens
        dated = self._ingest.prices.get(project)
        override = dated.rates_at(plan.model, time.time_ns() // 1_000_000) if dated else None
        tokens = Tokens(tokens_in, tokens_out, 0, 0)
        cost = self._prices.cost(plan.model, plan.endpoint.name, tokens, override)
        return {
            "calls": plan.count,
            "tokens_in": tokens_in,
            "max_tokens_out": tokens_out,
            "max_cost_usd": cost.usd,
            "cost_source": cost.source,
            "duration_s": (plan.count - 1) * plan.delay_s,
            "basis": f"prompt tokens ~ characters / {CHARS_PER_TOKEN}; "
            f"every answer {plan.max_tokens} tokens at most",
        }

    async def call(
        self, project: str, endpoint: Endpoint, model: str, prompt: str, max_tokens: int | None
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream one call: `{"delta": text}` messages, then `{"done": event}` once the event
        is recorded (spooled), or `{"error": ..., "done": event}`."""
        client = openai.AsyncOpenAI(
            base_url=endpoint.url, api_key=endpoint.key or "none", max_retries=0, timeout=300
        )
        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "ts": datetime.now(UTC).isoformat(),
            "model_id": model,
            "provider": endpoint.name,
            "stream": True,
            "prompt": prompt,
            "tags": ["playground"],
        }
        if max_tokens:
            event["max_tokens"] = max_tokens
        call = Streamed()
        parts: list[str] = []
        error: str | None = None
        messages = [{"role": "user", "content": prompt}]
        try:
            async for delta in stream_chat(client, model, messages, max_tokens, call):
                parts.append(delta)
                yield {"delta": delta}
        except openai.OpenAIError as exc:
            error_type, status = classify(exc)
            event.update(status="error", error_type=error_type)
            if status:
                event["http_status"] = status
            error = f"{type(exc).__name__}: {exc}"
        finally:
            await client.close()
        event["latency_ms"] = (time.perf_counter() - call.started) * 1000
        if call.first is not None:
            event["ttft_ms"] = (call.first - call.started) * 1000
        read = {
            "tokens_in": call.tokens_in,
            "tokens_out": call.tokens_out,
            "finish_reason": call.finish_reason,
        }
        event.update((k, v) for k, v in read.items() if v is not None)
        event["completion"] = "".join(parts)
        await self._ingest.ingest(
            orjson.dumps(event), "application/json", None, project, source="playground"
        )
        yield {"error": error, "done": event} if error else {"done": event}

    def start(self, project: str, plan: RunPlan) -> AutoStream:
        current = self._runs.get(project)
        if current is not None and current.running:
            raise ApiError(409, "an auto-stream is already running in this project: stop it first")
        run = AutoStream(plan.endpoint.name, plan.model, plan.count)
        run.task = asyncio.create_task(self._run(project, run, plan))
        self._runs[project] = run
        return run

    def progress(self, project: str) -> dict[str, Any]:
        run = self._runs.get(project)
        return run.public() if run else {"running": False, "sent": 0}

    def stop(self, project: str) -> dict[str, Any]:
        run = self._runs.get(project)
        if run is not None:
            run.running = False
        return self.progress(project)

    async def _run(self, project: str, run: AutoStream, plan: RunPlan) -> None:
        try:
            for n in range(run.total):
                if not run.running:
                    break
                if n:
                    await asyncio.sleep(plan.delay_s)
                run.sent += 1
                done: dict[str, Any] = {}
                async for message in self.call(
                    project, plan.endpoint, plan.model, plan.prompt(n), plan.max_tokens
                ):
                    done = message
                if done.get("error"):
                    run.failed += 1
                else:
                    run.ok += 1
                run.last_latency_ms = done["done"]["latency_ms"]
        finally:
            run.running = False

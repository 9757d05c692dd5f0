"""The playground's JSON API: calls to the LLM endpoints configured with `--llm`, streamed
to the page and recorded as events of the caller's project (source `playground`), and an
auto-stream run that sends a prompt set with a delay between prompts."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Annotated, Any

import openai
import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from llmpulse.probe.chat import Streamed, stream_chat
from llmpulse.probe.prompts import BUNDLED, PromptFileError, load_prompts
from llmpulse.sdk.calls import classify
from llmpulse.server.auth import current_project
from llmpulse.server.context import Platform, platform
from llmpulse.server.errors import ApiError

router = APIRouter(prefix="/v1/playground", tags=["playground"])
Ctx = Annotated[Platform, Depends(platform)]
Project = Annotated[str, Depends(current_project)]


class ChatRequest(BaseModel):
    endpoint: str = Field(description="a NAME given to --llm")
    model: str = Field(min_length=1, max_length=256)
    prompt: str = Field(min_length=1, max_length=100_000)
    max_tokens: int | None = Field(None, ge=1, le=100_000)


class AutoStreamRequest(BaseModel):
    endpoint: str
    model: str = Field(min_length=1, max_length=256)
    prompts: str = Field("quick", description=f"a bundled set: {', '.join(BUNDLED)}")
    delay_s: float = Field(1.0, ge=0, le=3600, description="pause between prompts")
    count: int = Field(10, ge=1, le=100_000)


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


_runs: dict[str, AutoStream] = {}  # by project: one auto-stream each


def _client(ctx: Platform, endpoint: str) -> openai.AsyncOpenAI:
    endpoints = ctx.settings.llm_endpoints()
    if endpoint not in endpoints:
        known = ", ".join(endpoints) or "none: start the server with --llm NAME=URL[,KEY]"
        raise ApiError(400, f"unknown endpoint {endpoint!r} (configured: {known})",
                       [{"field": "endpoint", "error": "not configured"}])  # fmt: skip
    url, key = endpoints[endpoint]
    return openai.AsyncOpenAI(base_url=url, api_key=key or "none", max_retries=0, timeout=300)


async def _call(
    ctx: Platform, project: str, endpoint: str, model: str, prompt: str, max_tokens: int | None
) -> AsyncIterator[dict[str, Any]]:
    """Stream one call: `{"delta": text}` messages, then `{"done": event}` once the event
    is recorded (spooled), or `{"error": ..., "done": event}`."""
    client = _client(ctx, endpoint)
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "ts": datetime.now(UTC).isoformat(),
        "model_id": model,
        "provider": endpoint,
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
    await ctx.ingest.ingest(
        orjson.dumps(event), "application/json", None, project, source="playground"
    )
    yield {"error": error, "done": event} if error else {"done": event}


@router.post("/chat", summary="Stream an answer from a configured endpoint (server-sent events)")
async def chat(body: ChatRequest, ctx: Ctx, project: Project) -> StreamingResponse:
    _client(ctx, body.endpoint)  # an unknown endpoint is a 400 before the stream starts

    async def events() -> AsyncIterator[bytes]:
        async for message in _call(
            ctx, project, body.endpoint, body.model, body.prompt, body.max_tokens
        ):
            yield b"data: " + orjson.dumps(message) + b"\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@router.get("/endpoints", summary="The LLM endpoints configured with --llm (names only)")
async def endpoints(ctx: Ctx, project: Project) -> dict[str, Any]:
    return {"endpoints": list(ctx.settings.llm_endpoints())}


async def _auto(
    ctx: Platform, project: str, run: AutoStream, prompts: list[str], delay_s: float
) -> None:
    try:
        for n in range(run.total):
            if not run.running:
                break
            if n:
                await asyncio.sleep(delay_s)
            run.sent += 1
            done: dict[str, Any] = {}
            async for message in _call(
                ctx, project, run.endpoint, run.model, prompts[n % len(prompts)], None
            ):
                done = message
            if done.get("error"):
                run.failed += 1
            else:
                run.ok += 1
            run.last_latency_ms = done["done"]["latency_ms"]
    finally:
        run.running = False


@router.post("/autostream", summary="Start sending a prompt set, a prompt at a time")
async def start_autostream(body: AutoStreamRequest, ctx: Ctx, project: Project) -> dict[str, Any]:
    _client(ctx, body.endpoint)
    try:
        prompts = [str(m[-1]["content"]) for m in load_prompts(body.prompts)]
    except PromptFileError:
        raise ApiError(400, f"unknown prompt set {body.prompts!r}; use one of {', '.join(BUNDLED)}",
                       [{"field": "prompts", "error": "unknown"}]) from None  # fmt: skip
    current = _runs.get(project)
    if current is not None and current.running:
        raise ApiError(409, "an auto-stream is already running in this project: stop it first")
    run = AutoStream(body.endpoint, body.model, body.count)
    run.task = asyncio.create_task(_auto(ctx, project, run, prompts, body.delay_s))
    _runs[project] = run
    return run.public()


@router.get("/autostream", summary="Progress of the project's auto-stream")
async def autostream(project: Project) -> dict[str, Any]:
    run = _runs.get(project)
    return run.public() if run else {"running": False, "sent": 0}


@router.delete("/autostream", summary="Stop the project's auto-stream")
async def stop_autostream(project: Project) -> dict[str, Any]:
    run = _runs.get(project)
    if run is None:
        return {"running": False, "sent": 0}
    run.running = False
    return run.public()

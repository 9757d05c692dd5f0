"""The playground's JSON API. Calls spend the operator's LLM key: admin scope only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from llmpulse.api.auth import Admin, Reader
from llmpulse.api.errors import error_responses
from llmpulse.api.openapi import answers
from llmpulse.api.services import Service
from llmpulse.playground.service import (
    DEFAULT_RUN_MAX_TOKENS,
    MAX_RUN_CALLS,
    MIN_DELAY_S,
    Playground,
    RunPlan,
)
from llmpulse.probe.prompts import BUNDLED

router = APIRouter(
    prefix="/v1/playground", tags=["playground"], responses=error_responses(400, 401, 403, 503)
)
PLAYGROUND: Service[Playground] = Service("playground")
Calls = Annotated[Playground, Depends(PLAYGROUND)]


class Endpoints(BaseModel):
    endpoints: list[str]


class Estimate(BaseModel):
    calls: int
    tokens_in: int = Field(description="estimated from the prompts' length")
    max_tokens_out: int
    max_cost_usd: float | None = Field(description="null when the model has no price")
    cost_source: str = Field(description="catalogue, override or unpriced")
    duration_s: float
    basis: str


class Progress(BaseModel):
    running: bool
    sent: int
    endpoint: str | None = None
    model: str | None = None
    total: int | None = None
    ok: int | None = None
    failed: int | None = None
    last_latency_ms: float | None = None


class Started(Progress):
    estimate: Estimate


class ChatRequest(BaseModel):
    endpoint: str = Field(description="a NAME given to --llm")
    model: str = Field(min_length=1, max_length=256)
    prompt: str = Field(min_length=1, max_length=100_000)
    max_tokens: int | None = Field(None, ge=1, le=100_000)


class AutoStreamRequest(BaseModel):
    endpoint: str
    model: str = Field(min_length=1, max_length=256)
    prompts: str = Field("quick", description=f"a bundled set: {', '.join(BUNDLED)}")
    delay_s: float = Field(1.0, ge=MIN_DELAY_S, le=3600, description="pause between prompts")
    count: int = Field(10, ge=1, le=MAX_RUN_CALLS)
    max_tokens: int = Field(DEFAULT_RUN_MAX_TOKENS, ge=1, le=100_000, description="per answer")


@router.post(
    "/chat",
    summary="Stream an answer from a configured endpoint (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                     "description": "`data: {delta}` messages, then `data: {done: event}`"}},
)  # fmt: skip
async def chat(body: ChatRequest, calls: Calls, admin: Admin) -> StreamingResponse:
    endpoint = calls.endpoint(body.endpoint)  # unknown: a 400 before the stream starts

    async def messages() -> AsyncIterator[bytes]:
        async for message in calls.call(
            admin.project, endpoint, body.model, body.prompt, body.max_tokens
        ):
            yield b"data: " + orjson.dumps(message) + b"\n\n"

    return StreamingResponse(messages(), media_type="text/event-stream")


@router.get(
    "/endpoints",
    summary="The LLM endpoints configured with --llm (names only)",
    **answers(Endpoints),
)
async def endpoints(calls: Calls, reader: Reader) -> dict[str, Any]:
    return {"endpoints": list(calls.endpoints)}


def _plan(calls: Playground, body: AutoStreamRequest) -> RunPlan:
    return calls.plan(
        body.endpoint, body.model, body.prompts, body.count, body.delay_s, body.max_tokens
    )


@router.post(
    "/autostream/estimate",
    summary="What an auto-stream run would cost at most, before it starts",
    **answers(Estimate),
)
async def estimate(body: AutoStreamRequest, calls: Calls, reader: Reader) -> dict[str, Any]:
    return calls.estimate(_plan(calls, body), reader.project)


@router.post(
    "/autostream",
    summary="Start sending a prompt set, a prompt at a time",
    **answers(Started, 409),
)
async def start_autostream(body: AutoStreamRequest, calls: Calls, admin: Admin) -> dict[str, Any]:
    plan = _plan(calls, body)
    run = calls.start(admin.project, plan).public()
    return {**run, "estimate": calls.estimate(plan, admin.project)}


@router.get("/autostream", summary="Progress of the project's auto-stream", **answers(Progress))
async def autostream(calls: Calls, reader: Reader) -> dict[str, Any]:
    return calls.progress(reader.project)


@router.delete("/autostream", summary="Stop the project's auto-stream", **answers(Progress))
async def stop_autostream(calls: Calls, admin: Admin) -> dict[str, Any]:
    return calls.stop(admin.project)

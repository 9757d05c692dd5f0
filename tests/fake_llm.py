"""A local stand-in for the OpenAI and Anthropic HTTP APIs, speaking their real wire formats
(JSON bodies, SSE streams, error bodies, Retry-After), for the real client libraries.

The model name picks the behaviour: `fake-429`, `fake-500`, `fake-401`, `fake-context`
(400 context_length_exceeded), `fake-slow` (answers after 2 s), `fake-slow-stream` (0.1 s
between chunks), `fake-classify` (a post's sentiment as JSON: see `classification`); any
other model answers.
Every answer is deterministic and recorded in `FakeLLM.calls`, so a test can compute what
should have been recorded without trusting the code under test.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from conftest import free_port

FIRST_CHUNK_DELAY_S = 0.05
CHUNK_DELAY_S = 0.005
WORDS = ["The", " answer", " is", " forty", "-two", ",", " of", " course", "."]


@dataclass
class Answer:
    """What the fake sent for one call."""

    path: str
    request: dict[str, Any]
    text: str
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    status: int = 200
    chunks_sent: int = 0
    usage_chunk_sent: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    stream_finished: bool = False  # False when the client went away mid-stream


def classification(body: dict[str, Any]) -> str:
    """`fake-classify`'s answer: a sentiment label by keywords of the last message, as JSON
    in a code fence (as models often answer)."""
    text = str(body["messages"][-1]["content"]).rsplit("Post:", 1)[-1].lower()
    label = "positive" if "moon" in text else "negative" if "dump" in text else "neutral"
    return f'```json\n{{"sentiment": "{label}", "topic": "markets"}}\n```'


def prompt_tokens(body: dict[str, Any]) -> int:
    """A deterministic token count: words in the request's text."""
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for k, v in value.items():
                if k in ("content", "text", "input", "prompt", "system", "instructions"):
                    walk(v)

    for key in ("messages", "input", "prompt", "system", "instructions"):
        walk(body.get(key))
    return max(1, sum(len(p.split()) for p in parts))


def _error(status: int, message: str, kind: str, code: str | None, anthropic: bool) -> Response:
    if anthropic:
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    headers = {"retry-after": "1"} if status == 429 else {}
    return JSONResponse(body, status, headers=headers)


ERRORS = {
    "fake-429": (429, "Rate limit reached for requests", "rate_limit_error", "rate_limit_exceeded"),
    "fake-500": (500, "The server had an error processing your request", "api_error", None),
    "fake-401": (401, "Incorrect API key provided", "authentication_error", "invalid_api_key"),
    "fake-context": (
        400,
        "This model's maximum context length is 8192 tokens. Please reduce the length of the messages.",
        "invalid_request_error",
        "context_length_exceeded",
    ),
}


@dataclass
class FakeLLM:
    port: int = field(default_factory=free_port)
    calls: list[Answer] = field(default_factory=list)
    cached_tokens: int = 0  # reported as prompt-cache reads on every call
    record: bool = True  # keep every answer in `calls` (a long benchmark would not)
    chunk_delay_s: float = CHUNK_DELAY_S

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeLLM:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/completions", self._completions, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/responses", self._responses, methods=["POST"]),
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake LLM server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    async def _begin(
        self, request: Request, anthropic: bool
    ) -> tuple[dict[str, Any], Answer | Response]:
        body = await request.json()
        headers = dict(request.headers)
        model = body.get("model", "")
        if model == "fake-slow":
            await asyncio.sleep(2)
        if model in ERRORS:
            status, message, kind, code = ERRORS[model]
            self._record(
                Answer(request.url.path, body, "", 0, 0, 0, status=status, headers=headers)
            )
            return body, _error(status, message, kind, code, anthropic)
        answer = Answer(
            request.url.path,
            body,
            classification(body) if model == "fake-classify" else "".join(WORDS),
            prompt_tokens(body),
            len(WORDS),
            min(self.cached_tokens, prompt_tokens(body)),
            headers=headers,
        )
        self._record(answer)
        return body, answer

    def _record(self, answer: Answer) -> None:
        if self.record:
            self.calls.append(answer)

    # --- OpenAI ---------------------------------------------------------------------------

    def _openai_usage(self, a: Answer) -> dict[str, Any]:
        return {
            "prompt_tokens": a.tokens_in,
            "completion_tokens": a.tokens_out,
            "total_tokens": a.tokens_in + a.tokens_out,
            "prompt_tokens_details": {"cached_tokens": a.tokens_cached},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }

    async def _chat(self, request: Request) -> Response:
        body, answer = await self._begin(request, anthropic=False)
        if isinstance(answer, Response):
            return answer
        base = {
            "id": "chatcmpl-fake1",
            "created": int(time.time()),
            "model": f"{body['model']}-2025-01-01",
        }
        if not body.get("stream"):
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer.text},
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                    "usage": self._openai_usage(answer),
                },
                headers={"x-request-id": "req_fake_123"},
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            out = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
                ],
            }
            if include_usage:
                out["usage"] = None
            return out

        delay = 0.1 if body["model"] == "fake-slow-stream" else self.chunk_delay_s

        async def events() -> AsyncIterator[bytes]:
            await asyncio.sleep(FIRST_CHUNK_DELAY_S)
            payloads = [chunk({"role": "assistant", "content": ""}, None)]
            payloads += [chunk({"content": w}, None) for w in WORDS]
            payloads.append(chunk({}, "stop"))
            if include_usage:
                payloads.append({**base, "object": "chat.completion.chunk", "choices": [],
                                 "usage": self._openai_usage(answer)})  # fmt: skip
                answer.usage_chunk_sent = True
            for n, payload in enumerate(payloads):
                if n > 1 and payload["choices"]:  # the usage chunk follows the last at once
                    await asyncio.sleep(delay)
                answer.chunks_sent += 1
                yield f"data: {json.dumps(payload)}\n\n".encode()
            yield b"data: [DONE]\n\n"
            answer.stream_finished = True

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _completions(self, request: Request) -> Response:
        body, answer = await self._begin(request, anthropic=False)
        if isinstance(answer, Response):
            return answer
        return JSONResponse(
            {
                "id": "cmpl-fake1",
                "object": "text_completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {"index": 0, "text": answer.text, "finish_reason": "length", "logprobs": None}
                ],
                "usage": self._openai_usage(answer),
            }
        )

    async def _embeddings(self, request: Request) -> Response:
        body, answer = await self._begin(request, anthropic=False)
        if isinstance(answer, Response):
            return answer
        answer.text, answer.tokens_out = "", 0
        return JSONResponse(
            {
                "object": "list",
                "model": body["model"],
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                "usage": {"prompt_tokens": answer.tokens_in, "total_tokens": answer.tokens_in},
            }
        )

    async def _responses(self, request: Request) -> Response:
        """The Responses API: a whole response, or its stream of typed events."""
        body, answer = await self._begin(request, anthropic=False)
        if isinstance(answer, Response):
            return answer
        usage = {
            "input_tokens": answer.tokens_in,
            "input_tokens_details": {"cached_tokens": answer.tokens_cached},
            "output_tokens": answer.tokens_out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": answer.tokens_in + answer.tokens_out,
        }
        part = {"type": "output_text", "text": answer.text, "annotations": []}
        item = {"type": "message", "id": "msg_fake1", "status": "completed", "role": "assistant",
                "content": [part]}  # fmt: skip
        response = {
            "id": "resp_fake1", "object": "response", "created_at": int(time.time()),
            "status": "completed", "model": body["model"], "output": [item], "usage": usage,
            "incomplete_details": None, "error": None, "instructions": body.get("instructions"),
            "metadata": {}, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        }  # fmt: skip
        if not body.get("stream"):
            return JSONResponse(response)
        started = {**response, "status": "in_progress", "output": [], "usage": None}
        empty_item = {**item, "status": "in_progress", "content": []}
        where = {"item_id": "msg_fake1", "output_index": 0, "content_index": 0}
        sequence = iter(range(1000))

        def sse(kind: str, data: dict[str, Any]) -> bytes:
            data = {"type": kind, "sequence_number": next(sequence), **data}
            return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()

        async def events() -> AsyncIterator[bytes]:
            await asyncio.sleep(FIRST_CHUNK_DELAY_S)
            yield sse("response.created", {"response": started})
            yield sse("response.output_item.added", {"output_index": 0, "item": empty_item})
            yield sse("response.content_part.added", {**where, "part": {**part, "text": ""}})
            for word in WORDS:
                answer.chunks_sent += 1
                yield sse("response.output_text.delta", {**where, "delta": word, "logprobs": []})
                await asyncio.sleep(CHUNK_DELAY_S)
            yield sse("response.output_text.done", {**where, "text": answer.text, "logprobs": []})
            yield sse("response.content_part.done", {**where, "part": part})
            yield sse("response.output_item.done", {"output_index": 0, "item": item})
            yield sse("response.completed", {"response": response})
            answer.stream_finished = True

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model",
                                                         "created": 0, "owned_by": "fake"}]})  # fmt: skip

    # --- Anthropic ------------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        body, answer = await self._begin(request, anthropic=True)
        if isinstance(answer, Response):
            return answer
        # Anthropic counts cache reads apart from input_tokens.
        usage = {
            "input_tokens": answer.tokens_in - answer.tokens_cached,
            "cache_read_input_tokens": answer.tokens_cached,
            "cache_creation_input_tokens": 0,
            "output_tokens": answer.tokens_out,
        }
        message = {
            "id": "msg_fake1",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "stop_sequence": None,
        }
        if not body.get("stream"):
            return JSONResponse(
                {
                    **message,
                    "content": [{"type": "text", "text": answer.text}],
                    "stop_reason": "end_turn",
                    "usage": usage,
                }
            )

        def sse(kind: str, data: dict[str, Any]) -> bytes:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()

        async def events() -> AsyncIterator[bytes]:
            await asyncio.sleep(FIRST_CHUNK_DELAY_S)
            start_usage = {**usage, "output_tokens": 1}
            yield sse(
                "message_start",
                {"message": {**message, "content": [], "stop_reason": None, "usage": start_usage}},
            )
            yield sse(
                "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
            )
            for word in WORDS:
                await asyncio.sleep(CHUNK_DELAY_S)
                answer.chunks_sent += 1
                yield sse(
                    "content_block_delta",
                    {"index": 0, "delta": {"type": "text_delta", "text": word}},
                )
            yield sse("content_block_stop", {"index": 0})
            yield sse("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                        "usage": {"output_tokens": answer.tokens_out}})  # fmt: skip
            yield sse("message_stop", {})
            answer.stream_finished = True

        return StreamingResponse(events(), media_type="text/event-stream")


def main() -> None:
    """Serve the fake in its own process (benchmarks):
    `python tests/fake_llm.py PORT [SECONDS_BETWEEN_CHUNKS]`."""
    import sys

    delay = float(sys.argv[2]) if len(sys.argv) > 2 else CHUNK_DELAY_S
    FakeLLM(port=int(sys.argv[1]), record=False, chunk_delay_s=delay).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()

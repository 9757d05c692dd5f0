"""A lean stand-in for OpenAI's streamed chat completions, for measuring the proxy.

tests/fake_llm.py speaks every format the tests need, through Starlette; here that cost
~0.6 ms of CPU per streamed call, on the same 2 cores as the proxy it was measuring, and
its relative sleeps drifted later the busier the machine was. This one is a bare asyncio
protocol (~0.1 ms a call) that sends each chunk on an absolute schedule: the first content
chunk `FIRST_S` after the request, then one every `--chunk-delay` seconds, then the usage
chunk (when asked for) and `[DONE]`, in OpenAI's wire format.

    python bench/sse_upstream.py PORT [CHUNK_DELAY_S]
"""

from __future__ import annotations

import asyncio
import sys
from typing import ClassVar

import orjson

FIRST_S = 0.05
WORDS = ["The", " answer", " is", " forty", "-two", ",", " of", " course", "."]
HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-request-id: req_bench\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def _frame(payload: bytes) -> bytes:
    """One SSE event as one HTTP/1.1 chunk."""
    event = b"data: " + payload + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(event), event)


def _chunks(model: str, include_usage: bool) -> list[bytes]:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
            "model": model, "system_fingerprint": None}  # fmt: skip
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, str], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return orjson.dumps({**base, "choices": [choice], **extra})

    payloads = [chunk({"role": "assistant", "content": ""}, None)]
    payloads += [chunk({"content": word}, None) for word in WORDS]
    payloads.append(chunk({}, "stop"))
    if include_usage:
        usage = {"prompt_tokens": 14, "completion_tokens": len(WORDS), "total_tokens": 14 + 9}
        payloads[-1] += b"\n\ndata: " + orjson.dumps({**base, "choices": [], "usage": usage})
    payloads[-1] += b"\n\ndata: [DONE]"
    return [_frame(p) for p in payloads[:-1]] + [_frame(payloads[-1]) + b"0\r\n\r\n"]


class Upstream(asyncio.Protocol):
    chunk_delay_s = 0.02
    # The chunks of a call depend only on (model, include_usage): built once each.
    cache: ClassVar[dict[tuple[str, bool], list[bytes]]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.WriteTransport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            if len(self.buffer) < end + 4 + length:
                return
            body = orjson.loads(self.buffer[end + 4 : end + 4 + length])
            self.buffer = self.buffer[end + 4 + length :]
            self.answer(body)

    def answer(self, body: dict[str, object]) -> None:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        key = (str(body["model"]), include_usage)
        chunks = self.cache.get(key) or self.cache.setdefault(key, _chunks(*key))
        # As tests/fake_llm.py: the role chunk and the first word at FIRST_S, then a chunk
        # every chunk_delay_s; the last one carries the finish, the usage and [DONE].
        start = self.loop.time() + FIRST_S
        self.loop.call_at(start, self.send, HEAD + chunks[0] + chunks[1])
        for n, chunk in enumerate(chunks[2:], start=1):
            self.loop.call_at(start + n * self.chunk_delay_s, self.send, chunk)

    def send(self, chunk: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(chunk)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(
        Upstream, "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    port = int(sys.argv[1])
    if len(sys.argv) > 2:
        Upstream.chunk_delay_s = float(sys.argv[2])
    try:
        import uvloop

        uvloop.run(serve(port))
    except ImportError:
        asyncio.run(serve(port))


if __name__ == "__main__":
    main()

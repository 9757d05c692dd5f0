"""A lean stand-in for OpenAI's chat completions, streamed and not, for measuring proxies.

tests/fake_llm.py speaks every format the tests need, through Starlette; here that cost
~0.6 ms of CPU per streamed call, on the same 2 cores as the proxy it was measuring, and
its relative sleeps drifted later the busier the machine was. This one is a bare asyncio
protocol (~0.1 ms a call) that sends each chunk on an absolute schedule: the first content
chunk `FIRST_S` after the request, then one every `--chunk-delay` seconds, then the usage
chunk (when asked for) and `[DONE]`, in OpenAI's wire format. A call without `stream` is
answered whole, as one JSON chat.completion, when the stream would have ended.

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


def _whole(model: str) -> bytes:
    """A non-streamed answer: the same words as one chat.completion, with usage."""
    body = orjson.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "".join(WORDS)}}],
        "usage": {"prompt_tokens": 14, "completion_tokens": len(WORDS), "total_tokens": 23},
    })  # fmt: skip
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req_bench\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )


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


def _unchunk(data: bytes) -> bytes:
    """The payload of HTTP/1.1 chunks (`size\\r\\ndata\\r\\n`...)."""
    out = []
    while data:
        size, _, rest = data.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        out.append(rest[:n])
        data = rest[n + 2 :]
    return b"".join(out)


class Upstream(asyncio.Protocol):
    chunk_delay_s = 0.02
    # The chunks of a call depend only on (model, include_usage): built once each.
    cache: ClassVar[dict[tuple[str, bool], list[bytes]]] = {}
    whole: ClassVar[dict[str, bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.WriteTransport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            if b"content-length:" in head:
                length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                if len(self.buffer) < end + 4 + length:
                    return
                body = self.buffer[end + 4 : end + 4 + length]
                self.buffer = self.buffer[end + 4 + length :]
            else:  # a chunked body (as some clients send): until its zero-size chunk
                last = self.buffer.find(b"\r\n0\r\n\r\n", end)
                if last < 0:
                    return
                body = _unchunk(self.buffer[end + 4 : last + 2])
                self.buffer = self.buffer[last + 7 :]
            self.answer(orjson.loads(body))

    def answer(self, body: dict[str, object]) -> None:
        if not body.get("stream"):
            model = str(body["model"])
            answer = self.whole.get(model) or self.whole.setdefault(model, _whole(model))
            at = self.loop.time() + FIRST_S + len(WORDS) * self.chunk_delay_s
            self.loop.call_at(at, self.send, answer)
            return
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

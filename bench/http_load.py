"""A bare HTTP/1.1 keep-alive client as an asyncio protocol, for loads of many connections:
on the same 2 cores the load must cost far less than what it measures (httpx spent 7-18 ms
of CPU per streamed call at 200 at a time, and milliseconds per request at hundreds of
connections; this costs a few tenths of a millisecond)."""

from __future__ import annotations

import asyncio
import re
import time

CONTENT = re.compile(rb'"content": ?"[^"]')  # a stream's chunk with text in it
_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")


class Exchange(asyncio.Protocol):
    """One connection, one request at a time. Reads a chunked answer (a stream) to its last
    chunk, or a whole one to its Content-Length; notes when the first content arrived."""

    def __init__(self) -> None:
        self.transport: asyncio.WriteTransport | None = None
        self.done: asyncio.Future[int] | None = None
        self.status = 0
        self.tail = b""  # the last bytes of a chunked answer: enough to see how it ends
        self.first: float | None = None
        self.remaining: int | None = None  # body bytes still due; None: chunked

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.done is None or self.done.done():
            return
        if not self.status:
            head, _, data = data.partition(b"\r\n\r\n")
            self.status = int(head[9:12])
            if not 200 <= self.status < 300:
                self.done.set_exception(RuntimeError(head.decode(errors="replace")[:500]))
                return
            length = _LENGTH.search(head)
            self.remaining = int(length[1]) if length else None
        if self.first is None and CONTENT.search(data):
            self.first = time.perf_counter()
        if self.remaining is not None:
            self.remaining -= len(data)
            if self.remaining <= 0:
                self.done.set_result(self.status)
            return
        self.tail = self.tail[-16:] + data
        if self.tail.endswith(b"\r\n0\r\n\r\n"):  # the last chunk of the stream
            self.done.set_result(self.status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed mid-answer"))

    async def send(self, request: bytes) -> tuple[int, float, float]:
        """(status, seconds to the first content, seconds to the end) of one request; a
        status other than 2xx raises."""
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        self.status, self.tail, self.first, self.remaining = 0, b"", None, None
        started = time.perf_counter()
        self.transport.write(request)
        status = await self.done
        end = time.perf_counter()
        return status, (self.first or end) - started, end - started


def post(
    host: str, path: str, body: bytes, content_type: str = "application/json", key: str = ""
) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )

"""A bare HTTP/1.1 keep-alive client as an asyncio protocol, for loads of many connections:
on the same 2 cores the load must cost far less than what it measures (httpx's client
costs milliseconds a request at hundreds of connections)."""

from __future__ import annotations

import asyncio
import time


class Exchange(asyncio.Protocol):
    """One connection sending a request and reading a whole (Content-Length) answer."""

    def __init__(self) -> None:
        self.transport: asyncio.WriteTransport | None = None
        self.done: asyncio.Future[int] | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head, sep, body = self.buffer.partition(b"\r\n\r\n")
        if not sep or self.done is None or self.done.done():
            return
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(body) >= length:
            self.buffer = body[length:]
            self.done.set_result(int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed mid-answer"))

    async def send(self, request: bytes) -> tuple[int, float]:
        """(status, seconds) of one request on this connection."""
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        self.transport.write(request)
        status = await self.done
        return status, time.perf_counter() - started


def post(host: str, path: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )

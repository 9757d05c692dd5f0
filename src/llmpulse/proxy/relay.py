"""Streaming an upstream response to the caller, as bare ASGI.

Each upstream chunk goes out as soon as it arrives (through an optional rewriter). A caller
that disconnects closes the upstream connection at once, so the provider stops
generating. Bare ASGI rather than Starlette's StreamingResponse: at 200 concurrent streams
the middleware layers every chunk passed through were most of the proxy's CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

COMPLETED, DISCONNECTED, BROKEN = "completed", "disconnected", "broken"


class Relay:
    def __init__(
        self,
        upstream: aiohttp.ClientResponse,
        headers: dict[str, str],
        rewrite: Callable[[bytes], bytes] | None = None,
        flush: Callable[[], bytes] | None = None,
        on_end: Callable[[str], None] | None = None,
    ) -> None:
        """`rewrite` maps each upstream chunk to what the caller gets; `flush` gives what
        it still holds at the end; `on_end` hears how the stream ended."""
        self.upstream = upstream
        self.headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.rewrite = rewrite
        self.flush = flush
        self.on_end = on_end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        upstream = self.upstream
        disconnected = False

        async def watch() -> None:
            nonlocal disconnected
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected = True
            upstream.close()  # ends the read below and the upstream's generation

        watcher = asyncio.ensure_future(watch())
        outcome = BROKEN
        try:
            await send(
                {"type": "http.response.start", "status": upstream.status, "headers": self.headers}
            )
            read, rewrite = upstream.content.readany, self.rewrite
            while chunk := await read():
                out = rewrite(chunk) if rewrite else chunk
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
            tail = self.flush() if self.flush else b""
            await send({"type": "http.response.body", "body": tail, "more_body": False})
            outcome = DISCONNECTED if disconnected else COMPLETED
        except (aiohttp.ClientError, OSError):
            outcome = DISCONNECTED if disconnected else BROKEN
            if not disconnected:
                raise
        finally:
            watcher.cancel()
            if outcome == COMPLETED:
                upstream.release()
            else:
                upstream.close()
            if self.on_end is not None:
                self.on_end(outcome)

"""A local stand-in for X API v2's filtered stream (GET /2/tweets/search/stream): bearer
auth with X's 401 problem body, one post object per line ending in \\r\\n, empty lines as
keep-alive heartbeats, `data` + `includes.users` + `matching_rules` as X sends them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from conftest import free_port

BEARER = "test-bearer"


@dataclass
class FakeX:
    lines: list[bytes]  # what the stream sends, heartbeats and all
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/2/tweets/search/stream"

    async def _stream(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {BEARER}":
            problem = {"title": "Unauthorized", "type": "about:blank", "status": 401,
                       "detail": "Unauthorized"}  # fmt: skip
            return JSONResponse(problem, 401)

        def body() -> Iterator[bytes]:
            yield from self.lines

        return StreamingResponse(body(), media_type="application/json")

    def start(self) -> FakeX:
        app = Starlette(routes=[Route("/2/tweets/search/stream", self._stream)])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        threading.Thread(target=self._server.run, daemon=True).start()
        while not self._server.started:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True


def stream_lines(posts: list[dict[str, Any]]) -> list[bytes]:
    """The stream of these X post envelopes: a heartbeat every 5 posts, as X sends one when
    quiet, and each line ended by \\r\\n."""
    lines = []
    for i, post in enumerate(posts):
        lines.append(orjson.dumps(post) + b"\r\n")
        if i % 5 == 4:
            lines.append(b"\r\n")
    return lines

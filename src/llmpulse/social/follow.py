"""`llmpulse social follow URL`: an X API v2 filtered stream (or any stream of posts, one
JSON object per line) into a running LLMPulse server.

X sends one post object per line and an empty line every 20 seconds to keep the
connection open. Lines are gathered into batches (by count, or after `max_wait_s`) and sent
to POST /v1/social/posts, retried with the same posts until the server has them (it
stores a post sent twice once). A line that is not JSON goes as text: the server keeps it
as a dead letter with the reason. A dropped connection is reopened with backoff, as X
asks of its clients; a refusal of the stream itself (401, 403, 404) ends following.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from llmpulse.sim.sender import EventSender

log = logging.getLogger(__name__)
STALL_S = 60.0  # no byte for this long (X sends a heartbeat every 20 s): reconnect


class FollowError(RuntimeError):
    """The stream refused us; the message says why."""


@dataclass
class Follower:
    stream_url: str
    bearer: str | None
    sender: EventSender
    batch_size: int = 500
    max_wait_s: float = 1.0
    reconnect: bool = True
    lines: int = 0
    reconnects: int = 0
    _batch: list[Any] = field(default_factory=list)
    _since: float = field(default_factory=time.monotonic)

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        headers = {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}
        timeout = httpx.Timeout(10.0, read=STALL_S)
        backoff = 1.0
        with httpx.Client(headers=headers, timeout=timeout) as client:
            while not stop.is_set():
                try:
                    with client.stream("GET", self.stream_url) as response:
                        if response.status_code in (401, 403, 404):
                            response.read()
                            raise FollowError(
                                f"{self.stream_url} answered {response.status_code}: "
                                f"{response.text[:300]}"
                            )
                        response.raise_for_status()
                        backoff = 1.0
                        for line in response.iter_lines():
                            self._take(line)
                            if stop.is_set():
                                break
                except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                    log.warning("stream dropped (%s); reconnecting in %.0f s", exc, backoff)
                    if not self.reconnect:
                        break
                    self._flush()
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 320.0)
                    self.reconnects += 1
                    continue
                if not self.reconnect:  # the stream ended: done
                    break
                self.reconnects += 1
        self._flush()

    def _take(self, line: str) -> None:
        if line.strip():  # an empty line is X's heartbeat
            self.lines += 1
            try:
                self._batch.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                self._batch.append(line)  # a dead letter on the server, with the reason
        if len(self._batch) >= self.batch_size or (
            self._batch and time.monotonic() - self._since >= self.max_wait_s
        ):
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self.sender.send(self._batch)
        self._batch = []
        self._since = time.monotonic()

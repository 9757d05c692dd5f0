"""`llmpulse social consume`: posts from a RabbitMQ queue into a running LLMPulse server.

Each message holds one post (our flat shape or an X API v2 object, `data` maybe a list) or
a JSON array of them. Messages are taken in batches and sent to POST /v1/social/posts; a
batch is acked only after the server answered 202 (its posts are then durable on the
server and stored exactly once, a redelivered post included: the store dedupes by post
id). A message that is not JSON, or whose posts the server rejected, goes to the queue's
dead letters with the reason before it is acked. Server errors and network failures leave
the batch unacked and are retried with backoff; a consumer killed mid-batch leaves its
messages to be redelivered.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from aio_pika.abc import AbstractIncomingMessage

from llmpulse.bus import amqp

log = logging.getLogger(__name__)
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504, 507}


class ConsumeError(RuntimeError):
    """Consuming cannot go on (the server refused the key, the broker is gone)."""


@dataclass
class ConsumeStats:
    messages: int = 0
    posts_sent: int = 0
    accepted: int = 0
    dead_lettered: int = 0
    retries: int = 0
    classified: int = 0
    errors: list[str] = field(default_factory=list)


# Adds an LLM's classification to a batch of posts in place (see classify.py).
Classify = Callable[[list[dict[str, Any]]], int]


@dataclass
class Consumer:
    amqp_url: str
    queue: str
    server: str
    api_key: str | None
    batch_size: int = 500
    max_wait_s: float = 0.5
    classify: Classify | None = None
    stats: ConsumeStats = field(default_factory=ConsumeStats)

    async def run(
        self, stop: asyncio.Event | None = None, idle_exit_s: float | None = None
    ) -> None:
        """Consume until `stop` is set (or, with `idle_exit_s`, the queue stayed empty that
        long)."""
        stop = stop or asyncio.Event()
        connection = await amqp.connect(self.amqp_url)
        headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        async with connection, httpx.AsyncClient(headers=headers, timeout=60) as client:
            channel = await connection.channel(publisher_confirms=True)
            await channel.set_qos(prefetch_count=self.batch_size * 2)
            topology = await amqp.declare(channel, self.queue)
            inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
            await topology.queue.consume(inbox.put)
            idle_since = asyncio.get_running_loop().time()
            # One batch is sent while the next is collected: acks stay in order (a batch
            # is handled only after the one before it was acked).
            sending: asyncio.Task[None] | None = None
            try:
                while not stop.is_set():
                    batch = await self._collect(inbox)
                    now = asyncio.get_running_loop().time()
                    if not batch:
                        if sending is not None:
                            await sending
                            sending = None
                        if idle_exit_s is not None and now - idle_since >= idle_exit_s:
                            return
                        continue
                    idle_since = now
                    if sending is not None:
                        await sending
                    sending = asyncio.create_task(self._handle(client, topology, batch))
                if sending is not None:
                    await sending
            finally:
                if sending is not None and not sending.done():
                    sending.cancel()

    async def _collect(
        self, inbox: asyncio.Queue[AbstractIncomingMessage]
    ) -> list[AbstractIncomingMessage]:
        batch: list[AbstractIncomingMessage] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while len(batch) < self.batch_size:
            try:
                batch.append(await asyncio.wait_for(inbox.get(), deadline - loop.time()))
            except TimeoutError:
                break
        return batch

    async def _handle(
        self, client: httpx.AsyncClient, topology: amqp.Topology,
        batch: list[AbstractIncomingMessage],
    ) -> None:  # fmt: skip
        self.stats.messages += len(batch)
        lines: list[bytes] = []
        owners: list[int] = []  # the message each post sent came from
        reasons: dict[int, list[str]] = {}
        for n, message in enumerate(batch):
            items = _items(message.body)
            if isinstance(items, str):
                reasons[n] = [items]
                continue
            if self.classify is not None:
                self.stats.classified += await asyncio.to_thread(self.classify, items)
            body = message.body
            if self.classify is None and body[:1] == b"{" and b"\n" not in body:
                lines.append(body + b"\n")  # one post object, as sent: not encoded again
            else:
                lines.extend(orjson.dumps(item) + b"\n" for item in items)
            owners.extend(n for item in items for _ in range(_post_count(item)))
        if lines:
            answer = await self._send(client, b"".join(lines))
            self.stats.posts_sent += len(owners)
            self.stats.accepted += answer.get("accepted", 0)
            for error in answer.get("errors", []):
                where = f"{error['field']}: " if error["field"] else ""
                reasons.setdefault(owners[error["index"]], []).append(where + error["error"])
        for n, why in sorted(reasons.items()):
            await amqp.dead_letter(topology.dead, batch[n].body, "; ".join(why), self.queue)
            self.stats.dead_lettered += 1
            self.stats.errors = (self.stats.errors + why)[-20:]
        await batch[-1].ack(multiple=True)

    async def _send(self, client: httpx.AsyncClient, body: bytes) -> dict[str, Any]:
        """POST the posts until the server answers for them: 202, or 400 with every post's
        problem. Anything it may do better later is retried; a refusal of the request
        itself ends consuming."""
        url = self.server.rstrip("/") + "/v1/social/posts"
        data = gzip.compress(body, compresslevel=1)
        delay = 0.2
        while True:
            try:
                response = await client.post(url, content=data)
            except httpx.TransportError as exc:
                problem = f"cannot reach {url}: {exc}"
            else:
                answer: dict[str, Any] = (
                    response.json() if "json" in response.headers.get("content-type", "") else {}
                )
                if response.status_code == 202 or (
                    response.status_code == 400 and "errors" in answer
                ):
                    return answer
                if response.status_code not in RETRY_STATUSES:
                    error = answer.get("error") or response.text[:300]
                    raise ConsumeError(
                        f"{url} refused the posts: HTTP {response.status_code}: {error}"
                    )
                problem = f"HTTP {response.status_code}: {answer.get('error', '')}"
            self.stats.retries += 1
            log.warning("posts not delivered (%s); retrying in %.1fs", problem, delay)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 10.0)


def _post_count(item: dict[str, Any]) -> int:
    """How many posts the server reads in an item: an X object's `data` list is as many."""
    if "text" not in item and isinstance(item.get("data"), list):
        return len(item["data"])
    return 1


def _items(body: bytes) -> list[dict[str, Any]] | str:
    """A message's posts, or why it cannot hold any."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        return "an empty array: no post"
    if not all(isinstance(item, dict) for item in items):
        return "a message holds a post object or an array of post objects"
    return items

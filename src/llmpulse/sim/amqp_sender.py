"""Send simulated posts to a RabbitMQ queue, one message per post, each batch confirmed
by the broker before the next (what `llmpulse social consume` reads)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from llmpulse.bus import amqp
from llmpulse.sim.sender import SendStats


class AmqpSender:
    def __init__(self, url: str, queue: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._queue = queue
        self.stats = SendStats()
        self._connection, self._channel = self._loop.run_until_complete(self._open(url))

    async def _open(self, url: str) -> tuple[Any, Any]:
        connection = await amqp.connect(url)
        channel = await connection.channel(publisher_confirms=True)
        await amqp.declare(channel, self._queue)
        return connection, channel

    def send(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        bodies = [orjson.dumps(post) for post in batch]
        sent = self._loop.run_until_complete(amqp.publish(self._channel, self._queue, bodies))
        self.stats.sent += sent
        self.stats.accepted += sent
        return {"accepted": sent, "rejected": 0, "errors": []}

    def close(self) -> None:
        self._loop.run_until_complete(self._connection.close())
        self._loop.close()

"""The telemetry bus on RabbitMQ (telemetry.py says what a bus does).

Partitions are quorum queues `NAME.0 .. NAME.{P-1}`, each with a single active consumer:
the broker gives each to one loader at a time and hands it over when that loader goes.
Quorum queues fsync and replicate before they confirm; a classic queue does neither on a
cluster of brokers. Publishing waits for the confirms; loaders ack after the insert.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections.abc import Sequence
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq.abc import FieldTable

from llmpulse.bus import amqp
from llmpulse.bus.amqp import BusError
from llmpulse.bus.telemetry import PARTITIONS, Batch, Delivery, LoopThread, partition_of


class RabbitBus:
    def __init__(self, url: str, name: str, prefetch: int = 64) -> None:
        self.url = amqp.safe_url(url)
        self.name = name
        self._prefetch = prefetch
        self._loop = LoopThread(self.url)
        self._inbox: queue.Queue[Delivery] = queue.Queue()
        self._consuming = False
        try:
            self._connection, self._channel = self._loop.run(self._open(url))
        except BaseException:
            self._loop.stop()
            raise

    async def _open(self, url: str) -> tuple[AbstractRobustConnection, AbstractChannel]:
        connection = await amqp.connect(url)
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=self._prefetch)
        await amqp.declare_dead(channel, self.name)
        for partition in range(PARTITIONS):
            await self._declare(channel, partition)
        return connection, channel

    async def _declare(self, channel: AbstractChannel, partition: int) -> AbstractQueue:
        arguments: FieldTable = {"x-queue-type": "quorum", "x-single-active-consumer": True}
        return await channel.declare_queue(
            f"{self.name}.{partition}", durable=True, arguments=arguments
        )

    def publish(self, batches: Sequence[Batch]) -> None:
        self._loop.run(self._publish(batches))

    async def _publish(self, batches: Sequence[Batch]) -> None:
        exchange = self._channel.default_exchange
        now = datetime.now(UTC)
        sends = [
            exchange.publish(
                aio_pika.Message(
                    b.body,
                    message_id=b.message_id,
                    timestamp=now,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=f"{self.name}.{partition_of(b.project)}",
            )
            for b in batches
        ]
        results = await asyncio.gather(*sends, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise BusError(f"RabbitMQ did not confirm a batch: {result}")

    def fetch(self, max_bytes: int, wait_s: float) -> list[Delivery]:
        if not self._consuming:
            self._loop.run(self._consume())
            self._consuming = True
        try:
            first = self._inbox.get(timeout=wait_s)
        except queue.Empty:
            return []
        taken, size = [first], len(first.body)
        while size < max_bytes:
            try:
                more = self._inbox.get_nowait()
            except queue.Empty:
                break
            taken.append(more)
            size += len(more.body)
        return taken

    async def _consume(self) -> None:
        for partition in range(PARTITIONS):
            declared = await self._declare(self._channel, partition)

            async def deliver(message: AbstractIncomingMessage, partition: int = partition) -> None:
                published = message.timestamp.timestamp() if message.timestamp else None
                self._inbox.put(
                    Delivery(message.message_id or "", message.body, partition, message, published)
                )

            await declared.consume(deliver)

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        self._loop.run(self._ack(deliveries))

    @staticmethod
    async def _ack(deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            await delivery.handle.ack()

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        self._loop.run(self._dead_letter(delivery, reason))

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        dead = await self._channel.get_exchange(amqp.dead_name(self.name))
        source = f"{self.name}.{delivery.partition}"
        await amqp.dead_letter(dead, delivery.body, reason, source)
        await delivery.handle.ack()

    def depth(self) -> int:
        """Batches ready in the partitions; BusError when the broker does not answer."""
        try:
            return self._loop.run(self._depth(), timeout=5)
        except Exception as exc:  # aio-pika raises several kinds while reconnecting
            raise BusError(f"RabbitMQ at {self.url}: {exc}") from exc

    async def _depth(self) -> int:
        total = 0
        channel = await self._connection.channel()
        try:
            for partition in range(PARTITIONS):
                declared = await channel.declare_queue(f"{self.name}.{partition}", passive=True)
                total += declared.declaration_result.message_count or 0
        finally:
            await channel.close()
        return total

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing what may be broken: nothing to do
            self._loop.run(self._connection.close(), timeout=10)
        self._loop.stop()

"""The telemetry bus between collectors and loaders, on RabbitMQ.

A batch is one spool record (one request of one project). It goes to one of PARTITIONS
quorum queues `NAME.0 .. NAME.{P-1}`, chosen by a hash of its project, each queue with a
single active consumer: any number of loaders share the partitions, and a project's
batches are loaded by one loader at a time, in order. That is what keeps a client's retry
(same event_id, maybe through another collector) from being stored twice by two loaders
at once; the loader's lookup of stored ids does the rest. Quorum queues replicate and
fsync before they confirm; a classic queue does neither on a cluster of brokers.

Publishing waits for the broker's confirms. Loaders acknowledge after the insert, so a
loader that dies redelivers its unacknowledged batches to the next. Batches that cannot be
decoded go to NAME.dead with the reason (amqp.dead_letter).

aio-pika runs in an event loop thread of its own; the methods here are called from the
collectors' and loaders' task threads and block until done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
import zlib
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

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

PARTITIONS: Final = 8
DEFAULT_QUEUE: Final = "llmpulse.telemetry"
T = TypeVar("T")


@dataclass(frozen=True)
class Batch:
    """One spool record to publish: its project picks the partition."""

    project: str
    message_id: str
    body: bytes


@dataclass
class Delivery:
    """A batch received by a loader, to acknowledge once stored."""

    message_id: str
    body: bytes
    partition: int
    message: AbstractIncomingMessage
    published_s: float | None = None  # when the collector published it


def partition_of(project: str, partitions: int = PARTITIONS) -> int:
    return zlib.crc32(project.encode()) % partitions


class TelemetryBus:
    def __init__(self, url: str, name: str = DEFAULT_QUEUE, prefetch: int = 256) -> None:
        self.url = amqp.safe_url(url)
        self.name = name
        self._prefetch = prefetch
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="llmpulse-bus", daemon=True
        )
        self._thread.start()
        self._inbox: queue.Queue[Delivery] = queue.Queue()
        self._consuming = False
        try:
            self._connection, self._channel = self._run(self._open(url))
        except BaseException:
            self._stop_loop()
            raise

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run `coro` on the bus's loop and wait; on timeout it is cancelled (no publish
        or ack left behind to finish later) and BusError raised."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BusError(f"RabbitMQ at {self.url} did not answer in {timeout:.0f} s") from None

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
        """Send the batches, all in flight at once; returns once the broker confirmed every
        one (raises BusError otherwise: the caller keeps them and retries)."""
        self._run(self._publish(batches))

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
        """Batches delivered to this loader: waits up to `wait_s` for the first, then takes
        what has arrived, up to about `max_bytes`."""
        if not self._consuming:
            self._run(self._consume())
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
        self._run(self._ack(deliveries))

    @staticmethod
    async def _ack(deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            await delivery.message.ack()

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Keep a batch that cannot be loaded in NAME.dead with why, then ack it."""
        self._run(self._dead_letter(delivery, reason))

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        dead = await self._channel.get_exchange(amqp.dead_name(self.name))
        source = f"{self.name}.{delivery.partition}"
        await amqp.dead_letter(dead, delivery.body, reason, source)
        await delivery.message.ack()

    def depth(self) -> int:
        """Batches waiting in the partitions (ready for delivery); BusError when the
        broker does not answer within seconds."""
        try:
            return self._run(self._depth(), timeout=5)
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
            self._run(self._connection.close(), timeout=10)
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

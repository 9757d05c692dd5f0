"""The telemetry bus between collectors and loaders: what both adapters share.

A batch is one spool record (one request of one project). It goes to one of PARTITIONS
partitions chosen by its project, and each partition is read by one loader at a time:
any number of loaders share the partitions, and a project's batches are loaded by one
loader at a time, in order. That is what keeps a client's retry (same event_id, maybe
through another collector) from being stored twice by two loaders at once; the loader's
lookup of stored ids does the rest. Publishing waits until the broker has the batch
durably; loaders acknowledge after the insert, so a loader that dies has its
unacknowledged batches delivered again (to the next owner of the partition).

Adapters: RabbitMQ (`amqp://`, rabbit_telemetry.py) and Kafka (`kafka://`,
kafka_telemetry.py), chosen by URL in adapters.py. Both run their asyncio client on a
loop thread of their own; their methods are called from the collectors' and loaders'
task threads and block.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import zlib
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from llmpulse.bus.amqp import BusError

PARTITIONS: Final = 8
DEFAULT_QUEUE: Final = "llmpulse.telemetry"
REASON_HEADER: Final = "x-llmpulse-reason"
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
    handle: Any  # the adapter's own: a RabbitMQ message, a Kafka offset
    published_s: float | None = None  # when the collector published it


def partition_of(project: str, partitions: int = PARTITIONS) -> int:
    return zlib.crc32(project.encode()) % partitions


class TelemetryBus(Protocol):
    url: str
    name: str

    def publish(self, batches: Sequence[Batch]) -> None:
        """Send the batches; returns once the broker has every one durably, else raises
        BusError (the caller keeps them and retries)."""

    def fetch(self, max_bytes: int, wait_s: float) -> list[Delivery]:
        """Batches delivered to this loader: waits up to `wait_s` for the first, then takes
        what has arrived, up to about `max_bytes`."""

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """The batches are stored: not to be delivered again."""

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Keep a batch that cannot be loaded in NAME.dead with why, then ack it."""

    def depth(self) -> int:
        """Batches published and not yet acknowledged by a loader."""

    def close(self) -> None: ...


class LoopThread:
    """An asyncio loop on a thread of its own, for an adapter's client."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="llmpulse-bus", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run `coro` on the loop and wait; on timeout it is cancelled (no publish or ack
        left behind to finish later) and BusError raised."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BusError(f"the broker at {self.url} did not answer in {timeout:.0f} s") from None

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

"""The telemetry bus on Kafka (telemetry.py says what a bus does), through aiokafka.

Partitions are the topic NAME's PARTITIONS partitions, keyed by project; the loaders are
one consumer group (`NAME.loaders`), so Kafka gives each partition to one loader at a
time and moves it when a loader leaves. Producers wait for acks=all; loaders commit a
partition's offset after the insert, so a loader that dies leaves its batches to be read
again by the partition's next owner. Batches that cannot be decoded go to NAME.dead with
the reason in a header. Tested against Tansu (a Kafka-protocol broker, docs/scaling.md).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from urllib.parse import urlsplit

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from llmpulse.bus.amqp import BusError
from llmpulse.bus.telemetry import (
    PARTITIONS,
    REASON_HEADER,
    Batch,
    Delivery,
    LoopThread,
    partition_of,
)


class KafkaBus:
    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self._servers = urlsplit(url).netloc
        self._loop = LoopThread(url)
        self._consumer: AIOKafkaConsumer | None = None
        try:
            self._producer = self._loop.run(self._open())
        except BaseException:
            self._loop.stop()
            raise

    async def _open(self) -> AIOKafkaProducer:
        try:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._servers, request_timeout_ms=10_000)
            await admin.start()
            try:
                topics = [NewTopic(self.name, PARTITIONS, 1), NewTopic(f"{self.name}.dead", 1, 1)]
                await admin.create_topics(topics)
            except TopicAlreadyExistsError:
                pass
            finally:
                await admin.close()
            producer = AIOKafkaProducer(
                bootstrap_servers=self._servers, acks="all", request_timeout_ms=20_000
            )
            await producer.start()
        except KafkaError as exc:
            raise BusError(f"cannot connect to Kafka at {self.url}: {exc}") from None
        return producer

    def publish(self, batches: Sequence[Batch]) -> None:
        self._loop.run(self._publish(batches))

    async def _publish(self, batches: Sequence[Batch]) -> None:
        try:
            sent = [
                await self._producer.send(
                    self.name,
                    b.body,
                    key=b.project.encode(),
                    partition=partition_of(b.project),
                    headers=[("message_id", b.message_id.encode())],
                )
                for b in batches
            ]
            for future in sent:
                await future
        except KafkaError as exc:
            raise BusError(f"Kafka did not acknowledge a batch: {exc}") from exc

    def fetch(self, max_bytes: int, wait_s: float) -> list[Delivery]:
        return self._loop.run(self._fetch(max_bytes, wait_s))

    async def _fetch(self, max_bytes: int, wait_s: float) -> list[Delivery]:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                self.name,
                bootstrap_servers=self._servers,
                group_id=f"{self.name}.loaders",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=6_000,
                max_poll_interval_ms=60_000,
                fetch_max_bytes=max_bytes,
            )
            await self._consumer.start()
        found = await self._consumer.getmany(timeout_ms=int(wait_s * 1000))
        deliveries = []
        for tp, messages in found.items():
            for m in messages:
                message_id = dict(m.headers).get("message_id", b"").decode()
                published = m.timestamp / 1000 if m.timestamp else None
                deliveries.append(
                    Delivery(message_id, m.value or b"", tp.partition, m.offset, published)
                )
        return deliveries

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        self._loop.run(self._ack(deliveries))

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        assert self._consumer is not None, "ack before fetch"
        offsets: dict[TopicPartition, int] = defaultdict(int)
        for d in deliveries:
            tp = TopicPartition(self.name, d.partition)
            offsets[tp] = max(offsets[tp], int(d.handle) + 1)
        try:
            await self._consumer.commit(dict(offsets))
        except KafkaError as exc:  # the partition moved to another loader meanwhile
            raise BusError(f"Kafka refused the commit: {exc}") from exc

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        self._loop.run(self._dead_letter(delivery, reason))

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        headers = [(REASON_HEADER, reason[:4000].encode()),
                   ("x-llmpulse-queue", f"{self.name}.{delivery.partition}".encode())]  # fmt: skip
        await self._producer.send_and_wait(f"{self.name}.dead", delivery.body, headers=headers)
        await self._ack([delivery])

    def depth(self) -> int:
        try:
            return self._loop.run(self._depth(), timeout=10)
        except KafkaError as exc:
            raise BusError(f"Kafka at {self.url}: {exc}") from exc

    async def _depth(self) -> int:
        """End offsets minus the loaders' committed offsets, over the partitions."""
        probe = AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            group_id=f"{self.name}.loaders",
            enable_auto_commit=False,
        )
        await probe.start()
        try:
            partitions = [TopicPartition(self.name, p) for p in range(PARTITIONS)]
            ends = await probe.end_offsets(partitions)
            total = 0
            for tp in partitions:
                committed = await probe.committed(tp)
                total += ends[tp] - (committed or 0)
            return total
        finally:
            await probe.stop()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing what may be broken: nothing to do
            self._loop.run(self._close(), timeout=15)
        self._loop.stop()

    async def _close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        await self._producer.stop()

"""RabbitMQ topology and publishing shared by the producers and consumers of a queue
(`llmpulse simulate --social --amqp`, `llmpulse social consume`).

A queue NAME is a durable classic queue of persistent messages; its dead letters go to the
durable fanout exchange NAME.dead and from there to the durable queue NAME.dead, each with
the reason in the `x-llmpulse-reason` header. Publishing waits for the broker's confirm:
a message is only counted sent once the broker has it on disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue
from pamqp.commands import Basic

REASON_HEADER: Final = "x-llmpulse-reason"
MAX_REASON_CHARS: Final = 4000


class BusError(RuntimeError):
    """The broker cannot be reached or refused what was asked; the message says which."""


@dataclass
class Topology:
    queue: AbstractQueue
    dead: AbstractExchange


def dead_name(queue: str) -> str:
    return f"{queue}.dead"


async def connect(url: str) -> aio_pika.abc.AbstractRobustConnection:
    try:
        return await aio_pika.connect_robust(url, timeout=10)
    except Exception as exc:  # aio-pika raises several kinds; all mean "not reachable"
        raise BusError(f"cannot connect to RabbitMQ at {safe_url(url)}: {exc}") from None


def safe_url(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


async def declare(channel: AbstractChannel, queue: str) -> Topology:
    """The queue, its dead-letter exchange and queue (idempotent)."""
    dead = await declare_dead(channel, queue)
    main = await channel.declare_queue(queue, durable=True)
    return Topology(main, dead)


async def declare_dead(channel: AbstractChannel, queue: str) -> AbstractExchange:
    """The dead-letter exchange NAME.dead and its queue NAME.dead (idempotent)."""
    dead = await channel.declare_exchange(
        dead_name(queue), aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead_queue = await channel.declare_queue(dead_name(queue), durable=True)
    await dead_queue.bind(dead)
    return dead


def _message(body: bytes, headers: dict[str, Any] | None = None) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        content_type="application/json",
        headers=headers,
    )


async def publish(channel: AbstractChannel, queue: str, bodies: Iterable[bytes]) -> int:
    """Publish every body to `queue` (through the default exchange), all in flight at once,
    and wait until the broker confirmed each; returns how many. Raises BusError when one
    was refused or returned (no such queue)."""
    exchange = channel.default_exchange
    confirms = [exchange.publish(_message(body), routing_key=queue) for body in bodies]
    results = await asyncio.gather(*confirms, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise BusError(f"RabbitMQ did not confirm a message to {queue!r}: {result}")
        if not isinstance(result, Basic.Ack):
            raise BusError(f"RabbitMQ returned a message to {queue!r} (is the queue declared?)")
    return len(results)


async def dead_letter(dead: AbstractExchange, body: bytes, reason: str, source: str) -> None:
    """Keep a message that cannot be used in NAME.dead, with why (confirmed before the
    original is acked, so it is never lost in between)."""
    headers = {REASON_HEADER: reason[:MAX_REASON_CHARS], "x-llmpulse-queue": source}
    await dead.publish(_message(body, headers), routing_key="")

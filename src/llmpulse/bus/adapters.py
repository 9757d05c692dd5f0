"""The telemetry bus a URL names (the adapters import only on use)."""

from __future__ import annotations

from llmpulse.bus.amqp import BusError
from llmpulse.bus.telemetry import DEFAULT_QUEUE, TelemetryBus


def open_bus(url: str, name: str = DEFAULT_QUEUE) -> TelemetryBus:
    """`amqp://user:pass@host:5672/` (RabbitMQ) or `kafka://host:9092[,host:9092]`."""
    if url.startswith(("amqp://", "amqps://")):
        from llmpulse.bus.rabbit_telemetry import RabbitBus

        return RabbitBus(url, name)
    if url.startswith("kafka://"):
        from llmpulse.bus.kafka_telemetry import KafkaBus

        return KafkaBus(url, name)
    raise BusError(f"unknown bus URL {url!r}: use amqp://HOST:5672/ or kafka://HOST:9092")

"""Prometheus metrics of the pipeline itself (served at /metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

# The *_created series double the output and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]


@dataclass
class PipelineMetrics:
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.accepted = Counter(
            "llmpulse_events_accepted",
            "Items accepted and spooled, by source and kind (events, traces, posts, logs, metrics)",
            ["source", "kind"],
            registry=r,
        )
        self.rejected = Counter(
            "llmpulse_events_rejected",
            "Items rejected by validation, by the field at fault",
            ["source", "kind", "reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "llmpulse_events_duplicate", "Events dropped as already stored", registry=r
        )
        # The bus between collectors and loaders (ingest/forwarder.py, ingest/bus_loader.py).
        self.published_batches = Counter(
            "llmpulse_bus_published_batches",
            "Spooled batches the broker confirmed (collectors)",
            registry=r,
        )
        self.published_items = Counter(
            "llmpulse_bus_published_items", "Items in the confirmed batches", registry=r
        )
        self.spooled_while_bus_down = Counter(
            "llmpulse_bus_spooled_while_down_batches",
            "Batches held in the spool by a bus outage, counted when they got out",
            registry=r,
        )
        self.consumed_batches = Counter(
            "llmpulse_bus_consumed_batches", "Batches delivered to this loader", registry=r
        )
        self.loaded_items = Counter(
            "llmpulse_bus_loaded_items",
            "Items of acknowledged batches: stored, or dropped as already stored",
            registry=r,
        )
        self.dead_lettered_batches = Counter(
            "llmpulse_bus_dead_lettered_batches",
            "Batches that could not be decoded, kept in the dead-letter queue",
            registry=r,
        )
        self.insert_seconds = Histogram(
            "llmpulse_store_insert_seconds",
            "Time to deduplicate and insert one loader run",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.http_seconds = Histogram(
            "llmpulse_http_request_seconds",
            "HTTP request latency by route",
            ["method", "route", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=r,
        )


PIPELINE = PipelineMetrics()

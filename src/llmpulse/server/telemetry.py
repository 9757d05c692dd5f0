"""Gauges read at scrape time from the live pipeline (spool depth, loader lag)."""

from __future__ import annotations

from prometheus_client import Gauge

from llmpulse.ingest.telemetry import PIPELINE
from llmpulse.server.platform import Platform

_registered: dict[str, Gauge] = {}


def register_gauges(ctx: Platform) -> None:
    spool, loader = ctx.ingest.spool, ctx.ingest.loader
    gauges = {
        "llmpulse_spool_pending_batches": (
            "Spooled batches not yet in the store",
            lambda: spool.pending()[0],
        ),
        "llmpulse_spool_pending_bytes": (
            "Spooled bytes not yet in the store",
            lambda: spool.pending()[1],
        ),
        "llmpulse_loader_lag_seconds": (
            "Age of the oldest spooled batch not yet loaded",
            loader.lag_seconds,
        ),
    }
    for name, (doc, read) in gauges.items():
        if name not in _registered:
            _registered[name] = Gauge(name, doc, registry=PIPELINE.registry)
        _registered[name].set_function(read)

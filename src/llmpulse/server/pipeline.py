"""GET /v1/pipeline: this node's share of the way from request to store.

A collector counts what it acknowledged, what the broker confirmed and what waits in its
spool; a loader what it was delivered, loaded and dead-lettered, and how old the batches
it loads are. Summed over the nodes (Prometheus does: the same counters are on /metrics),
acknowledged = loaded + in flight, and in flight is 0 once the pipeline is idle: that is
the loss ledger (docs/scaling.md).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from llmpulse.api.auth import Admin
from llmpulse.bus.amqp import BusError
from llmpulse.ingest.telemetry import PIPELINE
from llmpulse.server.platform import Platform


def _sums() -> dict[str, float]:
    """Each series of the pipeline's metrics summed over its labels, by sample name
    (`NAME_total` for a counter), read in one pass."""
    sums: dict[str, float] = defaultdict(float)
    for metric in PIPELINE.registry.collect():
        for sample in metric.samples:
            sums[sample.name] += sample.value
    return sums


def pipeline_report(ctx: Platform) -> dict[str, Any]:
    spool = ctx.ingest.spool
    t = _sums()  # the sums by sample name
    batches, size = spool.pending()
    report: dict[str, Any] = {
        "node": ctx.node,
        "role": ctx.settings.role,
        "store": ctx.engine.url,
        "collector": {
            "accepted_items": t["llmpulse_events_accepted_total"],
            "published_batches": t["llmpulse_bus_published_batches_total"],
            "published_items": t["llmpulse_bus_published_items_total"],
            "spooled_while_bus_down_batches": t["llmpulse_bus_spooled_while_down_batches_total"],
            "spool_pending_batches": batches,
            "spool_pending_bytes": size,
            "oldest_spooled_s": round(ctx.ingest.drainer.lag_seconds(), 3),
        },
        "loader": {
            "consumed_batches": t["llmpulse_bus_consumed_batches_total"],
            "loaded_items": t["llmpulse_bus_loaded_items_total"],
            "duplicates_dropped": t["llmpulse_events_duplicate_total"],
            "dead_lettered_batches": t["llmpulse_bus_dead_lettered_batches_total"],
            "lag_s": round(ctx.bus_loader.lag_s, 3) if ctx.bus_loader else None,
            "inserts": t["llmpulse_store_insert_seconds_count"],
            "insert_seconds_total": round(t["llmpulse_store_insert_seconds_sum"], 3),
        },
        "bus": None,
    }
    if ctx.bus:
        bus: dict[str, Any] = {"url": ctx.bus.url, "queue": ctx.bus.name}
        try:
            bus["depth_batches"] = ctx.bus.depth()
        except BusError as exc:
            bus["error"] = str(exc)
        report["bus"] = bus
    return report


def pipeline_router(ctx: Platform) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get(
        "/v1/pipeline",
        summary="This node's part of the pipeline: acknowledged, published, spooled, "
        "loaded, dead-lettered, lag, bus depth (an admin key)",
    )
    async def pipeline(admin: Admin) -> dict[str, Any]:
        return await run_in_threadpool(pipeline_report, ctx)

    return router

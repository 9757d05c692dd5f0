"""GET /v1/pipeline: this node's share of the way from request to store.

A collector counts what it acknowledged, what the broker confirmed and what waits in its
spool; a loader what it was delivered, loaded and dead-lettered, and how old the batches
it loads are. Summed over the nodes (Prometheus does: the same counters are on /metrics),
acknowledged = loaded + in flight, and in flight is 0 once the pipeline is idle: that is
the loss ledger (docs/scaling.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from llmpulse.api.auth import Admin
from llmpulse.bus.amqp import BusError
from llmpulse.ingest.telemetry import PIPELINE
from llmpulse.server.platform import Platform


def _sum(sample_name: str) -> float:
    """A series' value summed over its labels (`NAME_total` for a counter)."""
    return sum(
        sample.value
        for metric in PIPELINE.registry.collect()
        for sample in metric.samples
        if sample.name == sample_name
    )


def pipeline_report(ctx: Platform) -> dict[str, Any]:
    spool = ctx.ingest.spool
    batches, size = spool.pending()
    report: dict[str, Any] = {
        "node": ctx.node,
        "role": ctx.settings.role,
        "store": ctx.engine.url,
        "collector": {
            "accepted_items": _sum("llmpulse_events_accepted_total"),
            "published_batches": _sum("llmpulse_bus_published_batches_total"),
            "published_items": _sum("llmpulse_bus_published_items_total"),
            "spooled_while_bus_down_batches": _sum("llmpulse_bus_spooled_while_down_batches_total"),
            "spool_pending_batches": batches,
            "spool_pending_bytes": size,
            "oldest_spooled_s": round(ctx.ingest.drainer.lag_seconds(), 3),
        },
        "loader": {
            "consumed_batches": _sum("llmpulse_bus_consumed_batches_total"),
            "loaded_items": _sum("llmpulse_bus_loaded_items_total"),
            "duplicates_dropped": _sum("llmpulse_events_duplicate_total"),
            "dead_lettered_batches": _sum("llmpulse_bus_dead_lettered_batches_total"),
            "lag_s": round(ctx.bus_loader.lag_s, 3) if ctx.bus_loader else None,
            "inserts": _sum("llmpulse_store_insert_seconds_count"),
            "insert_seconds_total": round(_sum("llmpulse_store_insert_seconds_sum"), 3),
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

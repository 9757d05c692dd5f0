"""GET /health: ok or degraded (503) for anyone; the details for an admin key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from llmpulse import __version__
from llmpulse.api.auth import optional_grant
from llmpulse.api.responses import JsonResponse
from llmpulse.meta.keys import ADMIN
from llmpulse.server.platform import Platform
from llmpulse.store.engine import StoreError
from llmpulse.store.stats import events_on_disk


class Health(BaseModel):
    status: str = Field(description="ok or degraded")
    version: str
    failing: list[str] | None = Field(None, description="the parts failing: spool, loader, store")
    store: dict[str, Any] | None = Field(None, description="admin keys only, as are the rest")
    spool: dict[str, Any] | None = None
    loader: dict[str, Any] | None = None
    tasks: dict[str, dict[str, Any]] | None = None
    leases: dict[str, dict[str, Any]] | None = Field(
        None, description="which node runs each singleton job (holder; here: this node)"
    )


def health_router(ctx: Platform) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get(
        "/health",
        summary="ok or degraded; with an admin key also the store, spool, loader and tasks",
        response_model=None,
        responses={
            200: {"model": Health},
            503: {"model": Health, "description": "Degraded: a part failing, named in `failing`"},
        },
    )
    def health(request: Request) -> JsonResponse:
        report = health_report(ctx, details=_is_admin(ctx, request))
        return JsonResponse(report, 200 if report["status"] == "ok" else 503)

    return router


def _is_admin(ctx: Platform, request: Request) -> bool:
    grant = optional_grant(ctx.gate, request)
    return grant is not None and ADMIN in grant.scopes


def health_report(ctx: Platform, details: bool) -> dict[str, Any]:
    """Without details only the state, for probes and anyone: nothing of the data (paths,
    event counts of every project) goes to a caller without an admin key."""
    failing = ctx.tasks.failing()
    store: dict[str, Any] = {"url": ctx.engine.url, "ok": True}
    try:
        store.update(events_on_disk(ctx.engine))
    except StoreError as exc:
        store.update(ok=False, error=str(exc))
        failing.append("store")
    spool = ctx.ingest.spool
    if spool.last_write_error:  # requests are being refused until a write succeeds
        failing.append("spool")
    records, size = spool.pending()
    report: dict[str, Any] = {"status": "degraded" if failing else "ok", "version": __version__}
    if failing:
        report["failing"] = failing
    if details:
        report.update(
            store=store,
            spool={
                "pending_batches": records,
                "pending_bytes": size,
                "last_write_error": spool.last_write_error,
            },
            loader={"lag_seconds": ctx.lag_seconds()},
            tasks={name: state.public() for name, state in ctx.tasks.states.items()},
            leases={lease.name: lease.state() for lease in ctx.leases},
        )
    return report

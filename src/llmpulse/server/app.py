"""The FastAPI application: ingest, query API, /health and /metrics in one process."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmpulse import __version__
from llmpulse.ingest.routes import router as ingest_router
from llmpulse.ingest.service import IngestService
from llmpulse.ingest.spool import Spool
from llmpulse.ingest.telemetry import PIPELINE
from llmpulse.ingest.workers import Preparers
from llmpulse.pricing.prices import load_price_file
from llmpulse.server.api import router as api_router
from llmpulse.server.context import Platform, platform
from llmpulse.server.errors import install_error_handlers
from llmpulse.server.keys import KeyStore
from llmpulse.server.playground import router as playground_router
from llmpulse.server.responses import JsonResponse
from llmpulse.server.settings import Settings
from llmpulse.server.telemetry import register_gauges
from llmpulse.store import open_engine
from llmpulse.store.engine import StoreError
from llmpulse.store.migrate import apply_retention, migrate
from llmpulse.store.stats import events_on_disk
from llmpulse.web.routes import LoginRequired, login_redirect
from llmpulse.web.routes import router as web_router


def build_platform(settings: Settings) -> Platform:
    """Open the store, bring its schema up to date, and start the ingest pipeline."""
    overrides = load_price_file(settings.prices) if settings.prices else None
    provisioned = settings.provisioned_keys()
    spool = Spool(settings.data_dir / "spool")  # first: it locks the data dir
    keys = KeyStore(settings.data_dir / "keys.sqlite3", provisioned)
    for project in set(provisioned.values()):
        keys.ensure_project(project)
    engine = open_engine(settings.store_url)
    migrate(engine)
    apply_retention(engine, settings.retention_days)
    workers = settings.ingest_workers
    if workers is None:
        workers = os.cpu_count() or 1
    ingest = IngestService(engine, spool, Preparers(overrides, settings.retention_days, workers))
    return Platform(settings, engine, ingest, keys)


class RequestTimer:
    """ASGI middleware: HTTP latency histogram by route template (not raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            PIPELINE.http_seconds.labels(scope["method"], path, str(status)).observe(
                time.perf_counter() - started
            )


def create_app(ctx: Platform) -> FastAPI:
    """The app over an opened platform (see build_platform); it closes it on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.platform = ctx
        register_gauges(ctx)
        ctx.ingest.start()
        try:
            yield
        finally:
            ctx.ingest.stop()
            ctx.engine.close()

    app = FastAPI(
        title="LLMPulse",
        version=__version__,
        description="LLM telemetry: ingest events, query metrics. Auth: `Bearer KEY`.",
        default_response_class=JsonResponse,
        lifespan=lifespan,
    )
    app.add_middleware(RequestTimer)
    install_error_handlers(app)
    app.include_router(ingest_router)
    app.include_router(api_router)
    app.include_router(playground_router)
    app.include_router(web_router)
    app.add_exception_handler(LoginRequired, login_redirect)
    app.add_middleware(GZipMiddleware, minimum_size=1024)

    @app.get("/health", tags=["ops"], summary="Store, spool and loader state")
    def health(ctx: Platform = Depends(platform)) -> JsonResponse:
        return JsonResponse(*health_report(ctx))

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics of the pipeline")
    def prometheus() -> Response:
        return Response(generate_latest(PIPELINE.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def health_report(ctx: Platform) -> tuple[dict[str, Any], int]:
    records, size = ctx.ingest.spool.pending()
    store: dict[str, Any] = {"url": ctx.engine.url, "ok": True}
    try:
        store.update(events_on_disk(ctx.engine))
    except StoreError as exc:
        store.update(ok=False, error=str(exc))
    loader = ctx.ingest.loader
    report = {
        "status": "ok" if store["ok"] and loader.last_error is None else "degraded",
        "version": __version__,
        "store": store,
        "spool": {"pending_batches": records, "pending_bytes": size},
        "loader": {"lag_seconds": loader.lag_seconds(), "last_error": loader.last_error},
    }
    return report, 200 if report["status"] == "ok" else 503

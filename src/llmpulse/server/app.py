"""The app factory: every capability's router from one list, the services they use, the
background tasks, /health and /metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmpulse import __version__
from llmpulse.alerts import routes as alerts_routes
from llmpulse.analytics import monitor_routes
from llmpulse.analytics import routes as analytics_routes
from llmpulse.api.auth import GATE, optional_grant
from llmpulse.api.errors import install_error_handlers, internal_error
from llmpulse.api.formats import BINARY_EXPORTS
from llmpulse.api.openapi import install_openapi
from llmpulse.api.responses import JsonResponse
from llmpulse.api.services import install_services
from llmpulse.costs import routes as costs_routes
from llmpulse.governance import routes as governance_routes
from llmpulse.ingest import routes as ingest_routes
from llmpulse.ingest.genai_metrics import GENAI
from llmpulse.ingest.telemetry import PIPELINE
from llmpulse.meta.keys import READ
from llmpulse.playground import routes as playground_routes
from llmpulse.query import routes as query_routes
from llmpulse.query import telemetry_routes
from llmpulse.query.params import STORE
from llmpulse.scores import routes as scores_routes
from llmpulse.server.health import health_router
from llmpulse.server.pipeline import pipeline_router
from llmpulse.server.platform import Platform
from llmpulse.server.telemetry import AlertMetrics, register_gauges
from llmpulse.social import routes as social_routes
from llmpulse.store.engine import StoreError
from llmpulse.web import alerts as alerts_pages
from llmpulse.web import analytics as analytics_pages
from llmpulse.web import costs as costs_page
from llmpulse.web import dashboard, layout, login
from llmpulse.web import logs as logs_page
from llmpulse.web import monitoring as monitoring_pages
from llmpulse.web import playground as playground_page
from llmpulse.web import project as project_page
from llmpulse.web import social as social_page

# Every capability's routes: a new capability adds its line here.
ROUTERS: tuple[APIRouter, ...] = (
    ingest_routes.router,
    query_routes.router,
    telemetry_routes.router,
    social_routes.router,
    alerts_routes.router,
    alerts_routes.slo_router,
    analytics_routes.router,
    monitor_routes.router,
    costs_routes.router,
    governance_routes.router,
    scores_routes.router,
    playground_routes.router,
    dashboard.router,
    alerts_pages.router,
    analytics_pages.router,
    monitoring_pages.router,
    costs_page.router,
    playground_page.router,
    project_page.router,
    social_page.router,
    logs_page.router,
    login.router,
    layout.assets_router,
)


def routers_of(role: str) -> tuple[APIRouter, ...]:
    """The routes a role serves: a collector ingest alone, a query node the rest; loaders
    and workers only /health, /metrics and /v1/pipeline."""
    if role == "all":
        return ROUTERS
    if role == "collector":
        return (ingest_routes.router,)
    if role == "query":
        return tuple(r for r in ROUTERS if r is not ingest_routes.router)
    return ()


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
        register_gauges(ctx)
        ctx.tasks.start()
        try:
            yield
        finally:
            ctx.tasks.stop()
            ctx.close()

    app = FastAPI(
        title="LLMPulse",
        version=__version__,
        description="LLM telemetry: ingest events, query metrics. Auth: `Bearer KEY`.",
        default_response_class=JsonResponse,
        lifespan=lifespan,
        # `/v1/requests/` (an empty id) is a 404, not a redirect to the list.
        redirect_slashes=False,
    )
    install_services(
        app,
        GATE.bind(ctx.gate),
        STORE.bind(ctx.engine),
        ingest_routes.PIPELINE.bind(ctx.ingest),
        playground_routes.PLAYGROUND.bind(ctx.playground),
        alerts_routes.ALERTS.bind(ctx.alerts),
        costs_routes.RECOST.bind(ctx.recoster),
        social_routes.SOCIAL.bind(ctx.ingest.social),
        governance_routes.GOVERNANCE.bind(
            governance_routes.Governance(
                ctx.engine, ctx.settings.retention_days, ctx.ingest.redaction
            )
        ),
    )
    app.add_middleware(RequestTimer)
    install_error_handlers(app)

    @app.exception_handler(StoreError)
    async def _store(_: Request, exc: StoreError) -> JsonResponse:
        return internal_error("the store could not answer; try again", exc, 503)

    for router in routers_of(ctx.settings.role):
        app.include_router(router)
    app.add_exception_handler(layout.LoginRequired, layout.login_redirect)
    # Level 1: a streamed export of millions of rows is gzipped at about 100 MB/s instead of
    # 10 (level 9 made a 1M-row CSV take 32 s instead of 3), for answers a few % larger.
    # Parquet and Arrow are compressed or binary already.
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1024,
        compresslevel=1,
        exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, *BINARY_EXPORTS),
    )

    app.include_router(health_router(ctx))
    app.include_router(pipeline_router(ctx))
    install_openapi(app)
    alert_metrics = AlertMetrics(ctx.alerts)

    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics: the pipeline's; with a read key, also the project's "
        "GenAI metrics (OpenTelemetry semantic conventions)",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    def prometheus(request: Request) -> Response:
        grant = optional_grant(ctx.gate, request)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(PIPELINE.registry)
        registry.register(alert_metrics)
        if grant is not None and READ in grant.scopes:
            registry.register(GENAI.collector(grant.project))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app

"""`llmpulse serve` and `llmpulse demo`: the whole platform in one process."""

from __future__ import annotations

import contextlib
import ipaddress
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvicorn
from pydantic import ValidationError

from llmpulse.bus.amqp import BusError
from llmpulse.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    MetaUrl,
    StoreUrl,
    console,
    fail,
    parse_duration,
)
from llmpulse.lake.destination import LakeError
from llmpulse.meta.database import MetaError
from llmpulse.meta.keys import ALL_SCOPES, KeyStore, KeyStoreError
from llmpulse.pricing.prices import PriceFileError
from llmpulse.server.logs import configure_logging
from llmpulse.server.settings import Settings
from llmpulse.sim.app_telemetry import AppTelemetrySender
from llmpulse.sim.run import run_simulation
from llmpulse.sim.sender import EventSender, SendError
from llmpulse.sim.social import PostGenerator
from llmpulse.sim.traffic import TrafficGenerator, demo_shifts
from llmpulse.store.engine import StoreError

Host = Annotated[str, typer.Option(envvar="LLMPULSE_HOST", help="Address to listen on.")]
Port = Annotated[int, typer.Option(envvar="LLMPULSE_PORT", help="Port to listen on.")]
Prices = Annotated[
    Path | None,
    typer.Option(
        envvar="LLMPULSE_PRICES",
        help="YAML price file: model pattern -> {input, output, cached} $ per million tokens.",
        exists=True,
        dir_okay=False,
    ),
]
NoAuth = Annotated[
    bool,
    typer.Option("--no-auth", help="Accept requests without an API key (loopback hosts only)."),
]
Retention = Annotated[
    int, typer.Option(envvar="LLMPULSE_RETENTION_DAYS", help="Days events are kept.", min=1)
]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_settings(**flags: Any) -> Settings:
    try:
        settings = Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = f"setting {first['loc'][0]}: " if first["loc"] else ""
        raise fail(where + first["msg"].removeprefix("Value error, ")) from None
    if settings.no_auth and not is_loopback(settings.host):
        raise fail(
            f"--no-auth is refused on {settings.host}: it would open your data to the network"
        )
    try:
        settings.llm_endpoints()
    except ValueError as exc:
        raise fail(str(exc)) from None
    return settings


def _serve(settings: Settings, on_ready: Callable[[uvicorn.Server], None] | None = None) -> None:
    """Run the platform until stopped; `on_ready` runs in a thread once it listens."""
    from llmpulse.server.app import create_app
    from llmpulse.server.platform import build_platform

    configure_logging()
    try:
        ctx = build_platform(settings)
    except (
        StoreError, MetaError, BusError, LakeError, PriceFileError, KeyStoreError, ValueError
    ) as exc:  # fmt: skip
        raise fail(str(exc)) from None
    # asyncio's loop, not uvloop: uvloop accepts one connection per loop iteration, so
    # under load new clients waited seconds in the accept queue (1,000 keep-alive clients:
    # p99 12 s against 1.2 s with asyncio, at the same throughput).
    config = uvicorn.Config(
        create_app(ctx), host=settings.host, port=settings.port, log_config=None,
        access_log=False, loop="asyncio",
    )  # fmt: skip
    server = uvicorn.Server(config)
    if on_ready is not None:
        threading.Thread(target=on_ready, args=(server,), daemon=True).start()
    with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind
        server.run()
    if not server.started:
        raise fail(
            f"the server did not start on {settings.host}:{settings.port} (see the log above)"
        )


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    store: StoreUrl = None,
    meta: MetaUrl = None,
    prices: Prices = None,
    no_auth: NoAuth = False,
    retention_days: Retention = 90,
    ingest_workers: Annotated[
        int | None,
        typer.Option(
            envvar="LLMPULSE_INGEST_WORKERS",
            min=0,
            help="Processes that validate incoming events (default: one per core; 0: none).",
        ),
    ] = None,
    llm: Annotated[
        list[str] | None,
        typer.Option(
            help="An LLM endpoint for the playground, NAME=URL[,KEY] (OpenAI-compatible; "
            "repeat for several). NAME is recorded as the provider.",
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="LLMPULSE_PUBLIC_URL",
            help="The dashboard's address as people reach it, for links in alert messages "
            "(default: http://HOST:PORT).",
        ),
    ] = None,
    lake: Annotated[
        str | None,
        typer.Option(
            envvar="LLMPULSE_LAKE",
            help="Export to this Parquet lake as calls arrive: a folder (file://PATH) or "
            "s3://bucket/prefix (endpoint and keys from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY). See docs/lake.md.",
        ),
    ] = None,
    lake_interval: Annotated[
        str, typer.Option(help="Time between lake exports: 30s, 5m, 1h.")
    ] = "5m",
    no_alerts: Annotated[
        bool,
        typer.Option(
            "--no-alerts",
            help="Do not evaluate alert rules in this process (another node, or "
            "`llmpulse alerts eval` from cron, does). The alerts API still answers.",
        ),
    ] = False,
    role: Annotated[
        str,
        typer.Option(
            envvar="LLMPULSE_ROLE",
            help="What this process runs: all (everything, one process); collector (ingest "
            "routes, spool, publish to the bus); loader (bus -> store); query (API and "
            "pages); worker (alert evaluation, lake export: one node at a time holds each). "
            "See docs/scaling.md.",
        ),
    ] = "all",
    bus: Annotated[
        str | None,
        typer.Option(
            envvar="LLMPULSE_BUS",
            help="The bus between collectors and loaders: amqp://user:pass@host:5672/ "
            "(RabbitMQ) or kafka://host:9092[,host2:9092] (Kafka); needed by every role but "
            "all and worker.",
        ),
    ] = None,
) -> None:
    """Run the platform: ingest at /v1/events, query API under /v1, docs at /docs."""
    settings = make_settings(
        host=host, port=port, data_dir=data_dir, store=store, meta=meta, prices=prices,
        no_auth=no_auth or None, retention_days=retention_days, ingest_workers=ingest_workers,
        llm=";".join(llm) if llm else None, public_url=public_url,
        no_alerts=no_alerts or None, lake=lake, role=role, bus=bus,
        lake_interval_s=parse_duration(lake_interval, "--lake-interval"),
    )  # fmt: skip
    _serve(settings)


HISTORY_S = 28 * 86400  # the demo's past: four weeks, for retention and experiments


def _demo_costs(url: str, key: str) -> None:
    """A budget a little under the month's projected spend, and provider limits, so the
    Costs page has a budget that runs out and capacity to show."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
        outlook = http.get("/v1/costs/forecast", params={"horizon": "7d"}).json()["groups"][0]
        amount = round(max(outlook["month_end"]["value"] * 0.9, 1.0), 2)
        http.put("/v1/costs/budgets/monthly", json={"scope": "project", "amount_usd": amount})
        for provider, rpm in (("openai", 60), ("anthropic", 40)):
            http.put(f"/v1/costs/capacity/limits/{provider}", json={"rpm": rpm})


def demo(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Demo data lives apart from real data.")
    ] = Path("~/.llmpulse/demo"),
    qps: Annotated[float, typer.Option(help="Live events per second.")] = 20,
    history: Annotated[
        int, typer.Option(help="Events of past traffic (four weeks) sent first.")
    ] = 40_000,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 1,
) -> None:
    """Serve, fill with four weeks of simulated history, then keep live traffic flowing."""
    settings = make_settings(host=host, port=port, data_dir=data_dir)
    keys = KeyStore(settings.meta_url)
    keys.ensure_project("demo")
    _, key = keys.create_key("demo", ALL_SCOPES)  # the demo's user is its operator too
    url = f"http://{host}:{port}"

    def simulate(server: uvicorn.Server) -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.1)
        console.print(f"\n[bold green]LLMPulse is running at {url}[/]  (API docs: {url}/docs)")
        console.print(f"API key for project 'demo': [bold]{key}[/]", highlight=False)
        console.print(f"Dashboard: open {url} and log in with that key.")
        summary = f"{url}/v1/metrics/summary?group_by=model_id"
        console.print(
            f"try: curl -H 'Authorization: Bearer {key}' '{summary}'\n",
            highlight=False,
            soft_wrap=True,
        )
        sender = AppTelemetrySender(url, key, seed)
        shifts = demo_shifts(datetime.now(UTC))
        generator = TrafficGenerator(seed=seed, users=300, text=True, shifts=shifts)
        threading.Thread(target=social, daemon=True, name="demo-social").start()
        try:
            run_simulation(
                sender, generator, count=history, duration_s=None, qps=0, backfill_s=HISTORY_S
            )
            _demo_costs(url, key)
            run_simulation(sender, generator, count=None, duration_s=10 * 365 * 86400, qps=qps)
        except SendError as exc:
            console.print(f"[red]simulator stopped:[/] {exc}")

    def social() -> None:
        """A day of posts about NVIDIA, then a few a second, for the Social page."""
        posts = EventSender(url, key, path="/v1/social/posts")
        generator = PostGenerator(seed=seed)
        try:
            run_simulation(posts, generator, count=history // 2, duration_s=None, qps=0,
                           backfill_s=86400)  # fmt: skip
            run_simulation(posts, generator, count=None, duration_s=10 * 365 * 86400, qps=3,
                           rate_at=generator.rate_at)  # fmt: skip
        except SendError as exc:
            console.print(f"[red]post simulator stopped:[/] {exc}")

    _serve(settings, on_ready=simulate)

"""The platform's parts, opened once per process: store, spool and loader, keys, prices."""

from __future__ import annotations

import os
from dataclasses import dataclass

from llmpulse.alerts.evaluator import Evaluator
from llmpulse.api.auth import Gate
from llmpulse.bus.adapters import open_bus
from llmpulse.bus.telemetry import TelemetryBus
from llmpulse.costs.overrides import load_all as load_overrides
from llmpulse.costs.recost import Recoster
from llmpulse.events.posts import SocialPolicy
from llmpulse.events.redaction import RedactionRegistry
from llmpulse.events.settings import ProjectSettings
from llmpulse.governance import redaction, retention
from llmpulse.ingest.bus_loader import BusLoader
from llmpulse.ingest.service import IngestService
from llmpulse.ingest.spool import Spool
from llmpulse.ingest.workers import Preparers
from llmpulse.lake.destination import Destination
from llmpulse.lake.task import LakeExport
from llmpulse.meta.keys import KeyStore
from llmpulse.meta.leases import Lease, node_id
from llmpulse.playground.service import Playground
from llmpulse.pricing.dated import PriceRegistry
from llmpulse.pricing.prices import PriceBook, load_price_file
from llmpulse.server.settings import Settings
from llmpulse.server.tasks import Singleton, Task, TaskRunner
from llmpulse.social import alert_kinds  # noqa: F401 - registers the social rule kinds
from llmpulse.social import settings as social_settings
from llmpulse.store import open_engine
from llmpulse.store.engine import Engine
from llmpulse.store.migrate import migrate


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    ingest: IngestService
    gate: Gate
    playground: Playground
    alerts: Evaluator
    tasks: TaskRunner
    recoster: Recoster
    leases: list[Lease]
    node: str  # this process, as leases and /v1/pipeline name it
    bus: TelemetryBus | None = None
    bus_loader: BusLoader | None = None

    def lag_seconds(self) -> float:
        """Age of the oldest batch this node has not yet moved on (spool or bus)."""
        loading = self.bus_loader.lag_s if self.bus_loader else 0.0
        return max(self.ingest.drainer.lag_seconds(), loading)

    def close(self) -> None:
        """After the tasks stopped: hand the jobs over, move what is spooled, close."""
        for lease in self.leases:  # another node takes the jobs over at once
            lease.release()
        self.alerts.close()
        self.ingest.stop()
        if self.bus:
            self.bus.close()
        self.engine.close()


def build_platform(settings: Settings) -> Platform:
    """Open the store, bring its schema up to date, and start the ingest pipeline."""
    overrides = load_price_file(settings.prices) if settings.prices else None
    provisioned = settings.provisioned_keys()
    spool = Spool(settings.data_dir / "spool")  # first: it locks the data dir
    keys = KeyStore(settings.meta_url, provisioned, settings.key_cache_seconds)
    for grant in provisioned.values():
        keys.ensure_project(grant.project)
    engine = open_engine(settings.store_url)
    migrate(engine)
    bus = open_bus(settings.bus, settings.bus_queue) if settings.bus else None
    retention.apply_saved(engine, settings.retention_days)
    workers = settings.ingest_workers
    if workers is None:
        workers = os.cpu_count() or 1
    prices = PriceRegistry()
    load_overrides(engine, prices)
    preparers = Preparers(overrides, settings.retention_days, workers)
    redactions = RedactionRegistry()
    redaction.load_all(engine, redactions)
    social = ProjectSettings[SocialPolicy]()
    social_settings.load_all(engine, social)
    collects = settings.role in ("all", "collector", "query")
    ingest = IngestService(
        engine, spool, preparers, prices, redactions, social, bus if collects else None
    )
    book = PriceBook(overrides)
    recoster = Recoster(engine, book, prices, ingest.drainer.after_loaded)
    playground = Playground(settings.llm_endpoints(), ingest, book)
    alerts = Evaluator(engine, settings.base_url)
    # Alert evaluation and the lake export: on the roles that run jobs, and there on one
    # node of those serving the store (a lease each).
    singletons: list[Task] = []
    if settings.role in ("all", "worker"):
        if not settings.no_alerts:
            singletons.append(alerts)
        if settings.lake:
            lake = Destination(settings.lake)
            settle_ms = int(settings.lake_settle_s * 1000)
            singletons.append(LakeExport(engine, lake, settings.lake_interval_s, settle_ms))
    node = node_id()
    leases = [Lease(keys.db, task.name, node, settings.lease_s) for task in singletons]
    background: list[Task] = [*map(Singleton, singletons, leases)]
    if collects:
        background.append(ingest.drainer)
    bus_loader = None
    if bus and settings.role in ("all", "loader"):
        bus_loader = BusLoader(bus, engine)
        background.append(bus_loader)
    tasks = TaskRunner(background)
    gate = Gate(keys, settings.no_auth)
    return Platform(
        settings, engine, ingest, gate, playground, alerts, tasks, recoster, leases, node, bus,
        bus_loader,
    )  # fmt: skip

"""Ingest: prepare a request's events, spool them durably, hand them to the loader (or
to the forwarder, onto the bus)."""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool

from llmpulse.api.errors import ApiError
from llmpulse.bus.telemetry import TelemetryBus
from llmpulse.events.posts import SocialPolicy
from llmpulse.events.redaction import RedactionRegistry
from llmpulse.events.settings import ProjectSettings
from llmpulse.ingest.commits import GroupCommit
from llmpulse.ingest.forwarder import Forwarder
from llmpulse.ingest.loader import Loader, SpoolDrainer
from llmpulse.ingest.prepare import IngestRequest, Prepared
from llmpulse.ingest.spool import Spool, SpoolWriteError
from llmpulse.ingest.telemetry import PIPELINE
from llmpulse.ingest.workers import Preparers
from llmpulse.pricing.dated import PriceRegistry
from llmpulse.store.engine import Engine
from llmpulse.store.writes import stored_metric_types


class MetricTypes:
    """Each project's custom metric types by name: read from the store once, then kept
    current from the points accepted since (spooled points count before they load)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._known: dict[str, dict[str, str]] = {}

    async def of(self, project: str) -> dict[str, str]:
        if project not in self._known:
            stored = await run_in_threadpool(stored_metric_types, self._engine, project)
            self._known.setdefault(project, stored)
        return self._known[project]

    def add(self, project: str, types: dict[str, str]) -> None:
        if types:
            self._known.setdefault(project, {}).update(types)


class IngestService:
    def __init__(
        self,
        engine: Engine,
        spool: Spool,
        preparers: Preparers,
        prices: PriceRegistry,
        redaction: RedactionRegistry | None = None,
        social: ProjectSettings[SocialPolicy] | None = None,
        bus: TelemetryBus | None = None,
    ) -> None:
        """With a `bus`, spooled batches go onto it for the loaders (collector roles);
        without, this process loads them into the store itself."""
        self.spool = spool
        self.prices = prices
        self.redaction = redaction or RedactionRegistry()
        self.social = social or ProjectSettings[SocialPolicy]()
        self.metric_types = MetricTypes(engine)
        self.drainer: SpoolDrainer = Forwarder(spool, bus) if bus else Loader(spool, engine)
        self._preparers = preparers
        self._commits = GroupCommit(spool)

    def stop(self) -> None:
        """After the drainer task has stopped: move what is left, close the spool."""
        self._preparers.close()
        self._commits.close()
        self.drainer.drain()
        self.spool.close()

    async def ingest(
        self,
        body: bytes,
        content_type: str | None,
        content_encoding: str | None,
        project: str,
        source: str = "http",
        kind: str = "events",
    ) -> Prepared:
        """Validate and spool one request of `kind` (events, traces, posts, logs, metrics);
        the answer is sent only after the fsync.

        Raises BodyError when the body as a whole cannot be read (after keeping it as a
        dead letter when it was unreadable JSON).
        """
        received_ms = time.time_ns() // 1_000_000
        prices = self.prices.get(project)
        types = await self.metric_types.of(project) if kind == "metrics" else None
        request = IngestRequest(
            body, content_type, content_encoding, project, source, received_ms, prices,
            self.redaction.get(project), kind, self.social.get(project), types,
        )  # fmt: skip
        prepared = await self._preparers.run(request)
        # Before the next request is prepared (no await in between): a name's first type
        # holds for the requests after it.
        self.metric_types.add(project, prepared.new_metric_types)
        if prepared.payloads:
            try:
                # The write is a few microseconds into the page cache: done right here; the
                # wait for its fsync is shared with every request written meanwhile.
                await self._commits.durable(self.spool.write(*prepared.payloads))
            except SpoolWriteError as exc:
                status = 507 if exc.disk_full else 503
                raise ApiError(
                    status,
                    f"{exc.strerror}: nothing of this request was acknowledged; retry later",
                    headers={"Retry-After": "5"},
                ) from exc
            self.drainer.notify()
        PIPELINE.accepted.labels(request.source, kind).inc(prepared.accepted)
        for field, count in prepared.rejected_fields.items():
            PIPELINE.rejected.labels(request.source, kind, field).inc(count)
        prepared.raise_error()
        return prepared

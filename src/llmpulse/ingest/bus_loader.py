"""The loader role: batches from the bus into the store, exactly once.

Each step takes what the bus delivered (up to a run's size), leaves out rows already
stored or repeated (the same lookup as the spool loader), inserts each table under a
token made of the batches' message ids, and only then acknowledges them. A loader that
dies before its acknowledgement has them redelivered (to itself or another loader): the
same batches again are a repeated insert (the token) or rows found stored (the lookup);
either way stored once. A batch that cannot be decoded goes to the dead-letter queue with
the reason. A batch whose insert failed is kept and tried again before anything new;
one that cannot be acknowledged (its channel died with the broker) is let go: the broker
delivers it again.
"""

from __future__ import annotations

import hashlib
import threading
import time

from llmpulse.bus.telemetry import Delivery, TelemetryBus
from llmpulse.ingest import faults
from llmpulse.ingest.loader import Run, duplicates, insert_run
from llmpulse.ingest.telemetry import PIPELINE
from llmpulse.store.engine import Engine


class BusLoader:
    name = "loader"

    def __init__(
        self,
        bus: TelemetryBus,
        engine: Engine,
        max_bytes: int = 32 << 20,
        wait_s: float = 0.5,
        min_interval_s: float = 0.5,
    ) -> None:
        self._bus = bus
        self._engine = engine
        self._max_bytes = max_bytes
        self._wait_s = wait_s
        self._min_interval_s = min_interval_s
        self._held: list[Delivery] = []  # fetched, not yet stored
        self.wake = threading.Event()
        self.lag_s = 0.0  # age of the oldest batch of the last run, when published

    def step(self) -> float:
        started = time.time()
        if not self._held:
            self._held = self._bus.fetch(self._max_bytes, self._wait_s)
            PIPELINE.consumed_batches.inc(len(self._held))
        if not self._held:
            self.lag_s = 0.0
            return 0.0  # fetch waited already
        run, good = Run(), []
        for delivery in self._held:
            try:
                run.add(delivery.body)
            except ValueError as exc:
                self._bus.dead_letter(delivery, str(exc))
                PIPELINE.dead_lettered_batches.inc()
                continue
            good.append(delivery)
        published = [d.published_s for d in good if d.published_s]
        self.lag_s = started - min(published) if published else 0.0
        ids = ",".join(sorted(d.message_id for d in good))
        token = "bus:" + hashlib.sha256(ids.encode()).hexdigest()[:32]
        drops = duplicates(self._engine, run)
        insert_run(self._engine, run, drops, token)
        faults.reached("before-ack")
        try:
            self._bus.ack(good)
        except Exception:
            # The channel they came on is gone (a broker restart): the broker redelivers
            # them, and their rows are found stored then. Holding them would retry forever.
            self._held = []
            raise
        PIPELINE.loaded_items.inc(sum(len(r.keys) for r in run.tables.values()))
        self._held = []
        # A run a second at steady traffic: few large inserts (see loader.Loader.step).
        return max(0.0, self._min_interval_s - (time.time() - started))

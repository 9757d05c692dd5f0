"""The collector's way out when loaders run elsewhere: spooled batches onto the bus.

A request is acknowledged once its batch is in the fsync'd spool, bus or no bus; the
forwarder then publishes the spooled batches and moves the spool's checkpoint only once
the broker confirmed them. While the bus is down the spool keeps taking requests (it is
the collector's write-ahead log) and the forwarder retries with backoff; everything it
holds goes out when the bus is back. A batch's message id is the spool's own id and the
record's place in it: the same record keeps the same id if it is ever published again.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from llmpulse.bus.telemetry import Batch, TelemetryBus
from llmpulse.ingest import records
from llmpulse.ingest.loader import SpoolDrainer
from llmpulse.ingest.spool import Spool
from llmpulse.ingest.telemetry import PIPELINE


def spool_id(directory: Path) -> str:
    """This spool's random id, made once and kept beside its segments."""
    path = directory / "id"
    if not path.exists():
        path.write_text(secrets.token_hex(8) + "\n")
    return path.read_text().strip()


class Forwarder(SpoolDrainer):
    name = "forwarder"

    def __init__(self, spool: Spool, bus: TelemetryBus, max_bytes: int = 16 << 20) -> None:
        # Publishing is cheap per batch: no pause between runs.
        super().__init__(spool, max_bytes, idle_wait_s=0.2, min_interval_s=0.0)
        self._bus = bus
        self._id = spool_id(spool.directory)
        self._failed = False  # the last publish: retried with backoff

    def load_once(self) -> int:
        batches: list[Batch] = []
        items = size = 0
        end = None
        for cursor, payload in self._spool.read(self._spool.checkpoint, self._max_bytes):
            record = records.decode(payload)
            project = record.keys[0][0] if record.keys else ""
            batches.append(Batch(project, f"{self._id}:{cursor.segment}:{cursor.offset}", payload))
            items += len(record.keys)
            size += len(payload)
            end = cursor
        if end is None:
            return 0
        started = time.monotonic()
        try:
            self._bus.publish(batches)
        except Exception:
            self._failed = True
            raise
        # Held in the spool by an outage: published after a failed attempt, or after a
        # publish that waited (a Kafka client retries inside one publish).
        if self._failed or time.monotonic() - started > 1.0:
            PIPELINE.spooled_while_bus_down.inc(len(batches))
        self._failed = False
        self._spool.commit(end, len(batches), size)
        PIPELINE.published_batches.inc(len(batches))
        PIPELINE.published_items.inc(items)
        return len(batches)

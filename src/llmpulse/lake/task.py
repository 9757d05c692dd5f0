"""The lake export as a background task of `serve --lake DEST`: one run per interval."""

from __future__ import annotations

import logging
import threading

from llmpulse.lake.destination import Destination
from llmpulse.lake.export import SETTLE_MS, export
from llmpulse.store.engine import Engine

log = logging.getLogger(__name__)


class LakeExport:
    name = "lake"

    def __init__(
        self, engine: Engine, dest: Destination, interval_s: float, settle_ms: int = SETTLE_MS
    ) -> None:
        self.wake = threading.Event()
        self._engine, self._dest = engine, dest
        self._interval_s, self._settle_ms = interval_s, settle_ms

    def step(self) -> float:
        """Export what is new; a failure is retried by the task runner (and shown on
        /health), the watermark staying where the last committed run left it."""
        result = export(self._engine, self._dest, settle_ms=self._settle_ms)
        if result.manifest is not None:
            log.info("lake run %d: %s rows to %s", result.manifest.run, result.rows,
                     self._dest.url)  # fmt: skip
        return self._interval_s

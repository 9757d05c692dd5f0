"""Ingest: validate a request's events, spool them durably, hand them to the loader."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson

from llmpulse.events.normalize import Normalizer
from llmpulse.ingest import records
from llmpulse.ingest.body import BodyError, decompress, parse_events
from llmpulse.ingest.loader import Loader
from llmpulse.ingest.spool import Spool
from llmpulse.ingest.telemetry import PIPELINE
from llmpulse.pricing.prices import PriceBook
from llmpulse.store.engine import Engine

MAX_RAW_KEPT = 1024 * 1024  # bytes of a rejected payload kept in the dead-letter table


@dataclass
class IngestResult:
    status: int
    body: dict[str, Any]


class IngestService:
    def __init__(self, engine: Engine, spool: Spool, prices: PriceBook, retention_days: int):
        self.spool = spool
        self.loader = Loader(self.spool, engine)
        self._normalizer = Normalizer(prices, retention_days)

    def start(self) -> None:
        self.loader.start()

    def stop(self) -> None:
        self.loader.stop(drain=True)
        self.spool.close()

    def ingest(
        self,
        body: bytes,
        content_type: str | None,
        content_encoding: str | None,
        project: str,
        source: str = "http",
    ) -> IngestResult:
        """Validate and spool one request; returns the HTTP status and JSON answer.

        Raises BodyError when the body as a whole cannot be read; the body is then kept
        as one rejected record (when it was readable text) before the error goes out.
        """
        received_ms = time.time_ns() // 1_000_000
        try:
            items = parse_events(decompress(body, content_encoding), content_type)
        except BodyError as exc:
            if exc.status == 400 and exc.field == "body":
                self._spool_rejected(project, source, received_ms, [(exc.message, body)])
            PIPELINE.rejected.labels(source, "body").inc()
            raise
        batch = self._normalizer.batch(items, project, received_ms)
        payloads = []
        if batch.rows:
            keys = [(project, eid, ts, defaulted) for eid, ts, defaulted in batch.keys]
            payloads.append(records.encode(records.EVENTS, keys, batch.rows))
        if batch.rejections:
            reasons: dict[int, list[str]] = {}
            for r in batch.rejections:
                reasons.setdefault(r.index, []).append(f"{r.field or 'event'}: {r.error}")
            rows = [
                _rejected_row(project, source, received_ms, "; ".join(reasons[i]), items[i])
                for i in batch.rejected_indexes
            ]
            payloads.append(records.encode(records.REJECTED, [], rows))
        for payload in payloads:
            self.spool.append(payload)
        self.loader.notify()

        PIPELINE.accepted.labels(source).inc(len(batch.rows))
        for field, count in Counter(r.field or "event" for r in batch.rejections).items():
            PIPELINE.rejected.labels(source, field).inc(count)
        answer = {
            "accepted": len(batch.rows),
            "rejected": len(batch.rejected_indexes),
            "errors": [r.as_dict() for r in batch.rejections],
        }
        return IngestResult(202 if batch.rows else 400, answer)

    def _spool_rejected(
        self, project: str, source: str, received_ms: int, items: list[tuple[str, bytes]]
    ) -> None:
        rows = [
            _rejected_row(project, source, received_ms, reason, raw.decode("utf-8", "replace"))
            for reason, raw in items
        ]
        self.spool.append(records.encode(records.REJECTED, [], rows))
        self.loader.notify()


def _rejected_row(
    project: str, source: str, received_ms: int, reason: str, raw: Any
) -> dict[str, Any]:
    text = raw if isinstance(raw, str) else orjson.dumps(raw).decode()
    return {
        "project": project,
        "received_at": received_ms / 1000,
        "source": source,
        "reason": reason,
        "raw": text[:MAX_RAW_KEPT],
    }

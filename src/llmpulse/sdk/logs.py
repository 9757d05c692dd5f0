"""`llmpulse.logging_handler()`: Python logging records sent to the collector's /v1/logs,
batched in the background by the SDK's exporter like events (never blocking the caller).

A record logged inside an `observe` span (or an instrumented call) carries that span's
trace and span ids, so the Logs page links it to the trace's LLM calls. Extra fields
(`log.info("...", extra={"order": 7})`) become attributes; an exception's traceback is
the `exception` attribute.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import UTC, datetime
from typing import Any, Final

from llmpulse.sdk import client
from llmpulse.sdk.context import current_span
from llmpulse.sdk.exporter import LOG

MAX_MESSAGE_CHARS: Final = 100_000
# Every attribute a LogRecord has of its own: anything else came in through `extra`.
_STANDARD: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_FORMATTER: Final = logging.Formatter()
# The exporter's own loggers (and its HTTP client's): sending their records would make
# more of them, without end.
_OWN: Final = ("llmpulse.sdk", "httpx", "httpcore")


class LLMPulseHandler(logging.Handler):
    """A logging handler that queues each record for the collector."""

    def __init__(self, level: int = logging.NOTSET, service: str | None = None) -> None:
        super().__init__(level)
        self.service = service

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_OWN):
            return
        try:
            client.submit(LOG, self.as_log(record))
        except Exception:  # logging must never raise into the application
            self.handleError(record)

    def as_log(self, record: logging.LogRecord) -> dict[str, Any]:
        """The v1 log record (docs/logs-and-metrics.md) for a Python LogRecord."""
        ts = datetime.fromtimestamp(record.created, UTC)
        attributes = {
            k: v if isinstance(v, str | int | float | bool) else repr(v)
            for k, v in vars(record).items()
            if k not in _STANDARD and not k.startswith("_")
        }
        if record.exc_info:
            attributes["exception"] = _FORMATTER.formatException(record.exc_info)
        log: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=random.getrandbits(128), version=4)),
            "ts": ts.isoformat(),
            "level": record.levelname,
            "message": record.getMessage()[:MAX_MESSAGE_CHARS],
            "logger": record.name,
            "service": self.service,
            "attributes": attributes or None,
        }
        span = current_span()
        if span is not None:
            log["trace_id"], log["span_id"] = span.trace_id, span.span_id
        return {k: v for k, v in log.items() if v is not None}


def logging_handler(level: int = logging.NOTSET, service: str | None = None) -> LLMPulseHandler:
    """A handler sending records to the collector set by `llmpulse.init`::

    logging.getLogger().addHandler(llmpulse.logging_handler(service="api"))
    """
    return LLMPulseHandler(level, service)

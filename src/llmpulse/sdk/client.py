"""The SDK's one piece of global state: its settings and exporter, set by `init`."""

from __future__ import annotations

import atexit
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llmpulse.events.redaction import Redactor
from llmpulse.sdk.exporter import EVENT, SPAN, Exporter

DEFAULT_ENDPOINT = "http://127.0.0.1:8000"
log = logging.getLogger("llmpulse.sdk")


@dataclass(frozen=True)
class Settings:
    environment: str | None
    capture_content: bool
    sample_rate: float


class _State:
    settings = Settings(environment=None, capture_content=True, sample_rate=1.0)
    exporter: Exporter | None = None


def init(
    endpoint: str | None = None,
    api_key: str | None = None,
    environment: str | None = None,
    capture_content: bool = True,
    sample_rate: float = 1.0,
    redact: Iterable[str | re.Pattern[str]] | bool | None = None,
    *,
    service_name: str | None = None,
    max_queue: int = 10_000,
) -> None:
    """Point the SDK at a collector (`llmpulse serve`).

    endpoint and api_key fall back to LLMPULSE_ENDPOINT and LLMPULSE_API_KEY.
    capture_content=False keeps prompts, completions and span inputs/outputs in the process.
    sample_rate keeps that share of traces (decided per trace, so traces stay whole).
    redact: None applies the built-in patterns (e-mail, phone, card numbers, API keys and
    bearer tokens); a list of regexes adds to them; False turns redaction off.
    Calling init again replaces the previous settings (after flushing what was queued).
    """
    if not 0.0 <= sample_rate <= 1.0:
        raise ValueError(f"sample_rate must be between 0 and 1, got {sample_rate}")
    endpoint = endpoint or os.environ.get("LLMPULSE_ENDPOINT") or DEFAULT_ENDPOINT
    api_key = api_key or os.environ.get("LLMPULSE_API_KEY")
    redactor = (
        Redactor(builtins=False)
        if redact is False
        else Redactor(() if redact in (None, True) else redact)  # type: ignore[arg-type]
    )
    if _State.exporter is not None:
        _State.exporter.shutdown(timeout=2.0)
    _State.settings = Settings(
        environment or os.environ.get("LLMPULSE_ENVIRONMENT"), capture_content, sample_rate
    )
    _State.exporter = Exporter(
        endpoint, api_key, redactor, max_queue=max_queue, service_name=service_name
    )


def settings() -> Settings:
    return _State.settings


def _exporter() -> Exporter:
    if _State.exporter is None:
        init()  # instrumented without init(): the environment (or localhost) decides
    assert _State.exporter is not None
    return _State.exporter


def sampled(trace_id: str | None) -> bool:
    """The same answer for every span of a trace (a call without ids yet is kept: they are
    left out only when every trace is kept)."""
    rate = _State.settings.sample_rate
    return rate >= 1.0 or trace_id is None or int(trace_id[:8], 16) < rate * 0x100000000


def emit_event(event: dict[str, Any]) -> None:
    _exporter().submit(EVENT, event)


def emit_span(span: dict[str, Any]) -> None:
    _exporter().submit(SPAN, span)


def submit(kind: str, item: dict[str, Any]) -> None:
    _exporter().submit(kind, item)


def flush(timeout: float = 5.0) -> bool:
    """Wait until everything recorded so far is delivered; False on timeout."""
    return _State.exporter.flush(timeout) if _State.exporter is not None else True


def shutdown(timeout: float = 5.0) -> bool:
    """Flush and stop the exporter; later events are not sent."""
    if _State.exporter is None:
        return True
    return _State.exporter.shutdown(timeout)


def stats() -> dict[str, int]:
    """Items sent, dropped because the queue was full, refused by the collector, pending."""
    exporter = _State.exporter
    if exporter is None:
        return {"sent": 0, "dropped": 0, "refused": 0, "pending": 0}
    return {
        "sent": exporter.sent,
        "dropped": exporter.dropped,
        "refused": exporter.refused,
        "pending": exporter.pending(),
    }


@atexit.register
def _flush_at_exit() -> None:
    exporter = _State.exporter
    if exporter is None or exporter.closed:
        return
    if exporter.pending() and not exporter.shutdown(timeout=5.0):
        log.warning("llmpulse: %d events not delivered at exit", exporter.pending())

"""One instrumented LLM call: timed from start to its last byte, then emitted as one event.

Kept cheap on the caller's path: reading a few fields and appending to the exporter's
queue. Root ids, timestamps, prompt text, redaction and JSON happen on the exporter thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from llmpulse.events.errors import error_type_for
from llmpulse.sdk import client
from llmpulse.sdk.context import (
    SpanRef,
    current_attributes,
    current_span,
    new_span_id,
    new_trace_id,
)
from llmpulse.sdk.exporter import PROMPT_SNAPSHOT

log = logging.getLogger("llmpulse.sdk")
P = ParamSpec("P")
R = TypeVar("R")


def safely(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R | None:
    """Run our own bookkeeping; a failure in it is logged, never raised into the app."""
    try:
        return fn(*args, **kwargs)
    except Exception:
        log.exception("llmpulse: instrumentation error (the call itself is unaffected)")
        return None


def classify(exc: BaseException) -> tuple[str, int | None]:
    """(error_type, http_status) of a client library's exception."""
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    body = getattr(exc, "body", None)
    code = ""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            code = f"{error.get('code') or ''} {error.get('type') or ''}"
    message = f"{code} {getattr(exc, 'message', None) or exc}"
    return error_type_for(status, type(exc).__name__, message), status


def _place(sample_rate: float) -> tuple[SpanRef, str | None] | None:
    """The call's span under the current one; None for a root call when every trace is
    kept (its ids are then made off the caller's path)."""
    parent = current_span()
    if parent is not None:
        return SpanRef(parent.trace_id, new_span_id()), parent.span_id
    if sample_rate < 1.0:  # the sampling decision needs the trace id now
        return SpanRef(new_trace_id(), new_span_id()), None
    return None


def _asks_for_json(kwargs: Mapping[str, Any]) -> bool:
    """Whether the call asked for a JSON answer: Chat Completions' `response_format` or the
    Responses API's `text.format`, of type json_object or json_schema."""
    wanted = kwargs.get("response_format")
    text = kwargs.get("text")
    if wanted is None and isinstance(text, Mapping):
        wanted = text.get("format")
    kind = wanted.get("type") if isinstance(wanted, Mapping) else getattr(wanted, "type", None)
    return kind in ("json_object", "json_schema")


class LlmCall:
    """State of one call; stream wrappers fill `fields` and `parts` as chunks arrive."""

    __slots__ = ("_t0", "_ttft_ms", "done", "event", "fields", "last_chunk", "parts")

    def __init__(
        self,
        provider: str,
        operation: str,
        kwargs: Mapping[str, Any],
        prompt_of: Callable[[Mapping[str, Any]], Any],
        place: tuple[SpanRef, str | None] | None = None,
    ) -> None:
        settings = client.settings()
        event: dict[str, Any] = {
            "start_ns": time.time_ns(),
            "model_id": str(kwargs.get("model") or "unknown"),
            "provider": provider,
            "operation": operation,
            "stream": kwargs.get("stream") is True,
        }
        place = place or _place(settings.sample_rate)
        if place is not None:  # else the exporter gives it a trace of its own
            event["trace_id"], event["span_id"] = place[0].trace_id, place[0].span_id
            if place[1]:
                event["parent_span_id"] = place[1]
        temperature = kwargs.get("temperature")
        if isinstance(temperature, int | float):
            event["temperature"] = temperature
        max_tokens = (
            kwargs.get("max_tokens")
            or kwargs.get("max_completion_tokens")
            or kwargs.get("max_output_tokens")
        )
        if isinstance(max_tokens, int):
            event["max_tokens"] = max_tokens
        if settings.environment:
            event["environment"] = settings.environment
        if _asks_for_json(kwargs):
            event["response_format"] = "json"
        # A snapshot of the messages: turned into text (and the prefix hash prompt caching
        # advice uses) on the exporter thread; the text is sent only if content is captured.
        prompt = prompt_of(kwargs)
        if prompt:
            event[PROMPT_SNAPSHOT] = tuple(prompt) if isinstance(prompt, list) else prompt
            if settings.capture_content:
                event["prompt"] = event[PROMPT_SNAPSHOT]
        current_attributes().apply(event)
        self.event = event
        self.fields: dict[str, Any] = {}
        self.parts: list[str] | None = [] if settings.capture_content else None
        self.done = False
        self._ttft_ms: float | None = None
        self._t0 = time.perf_counter()
        self.last_chunk = self._t0

    @staticmethod
    def start(
        provider: str,
        operation: str,
        kwargs: Mapping[str, Any],
        prompt_of: Callable[[Mapping[str, Any]], Any],
        place: tuple[SpanRef, str | None] | None = None,
    ) -> LlmCall | None:
        """A call to record, or None when its trace is not sampled."""
        call = LlmCall(provider, operation, kwargs, prompt_of, place)
        return call if client.sampled(call.event.get("trace_id")) else None

    def chunk(self, content: bool) -> None:
        """A streamed chunk arrived; `content` when it carries generated output."""
        now = time.perf_counter()
        self.last_chunk = now
        if content and self._ttft_ms is None:
            self._ttft_ms = (now - self._t0) * 1000

    def finish(self, end: float | None = None, **fields: Any) -> None:
        if self.done:
            return
        self.done = True
        event = self.event
        event["latency_ms"] = ((end or time.perf_counter()) - self._t0) * 1000
        if self._ttft_ms is not None:
            event["ttft_ms"] = min(self._ttft_ms, event["latency_ms"])
        self.fields.update(fields)
        if self.parts:
            self.fields.setdefault("completion", "".join(self.parts))
        for name, value in self.fields.items():
            if value is not None and value != "":
                event[name] = value
        if self.parts is None:
            event.pop("completion", None)
        if event.get("model_version") == event["model_id"]:
            del event["model_version"]
        client.emit_event(event)

    def fail(self, exc: BaseException) -> None:
        error_type, status = classify(exc)
        self.finish(status="error", error_type=error_type, http_status=status)

    def cancel(self, at_last_chunk: bool = False) -> None:
        """The caller stopped reading the stream before its end."""
        self.finish(
            self.last_chunk if at_last_chunk else None, status="error", error_type="cancelled"
        )

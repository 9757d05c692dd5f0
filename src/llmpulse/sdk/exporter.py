"""The background exporter: never blocks the caller, never raises into it, loses nothing
it can keep.

Calls hand items (LLM-call events and custom spans) to `submit`, which appends to a
bounded queue; when it is full the oldest item is dropped and counted. A daemon thread
sends batches (500 items or every second) gzip'd to the collector. A batch that cannot be
delivered goes back to the head of the queue, so it is subject to the same bound (while
the collector is away the newest items are kept, not the first batch tried), and is tried
again after exponential backoff with jitter, or the 429/503 Retry-After, always with the
same event ids so a retry is never counted twice. Redaction and serialisation happen on
that thread, off the caller's path.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import logging
import os
import random
import threading
import time
import uuid
import weakref
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from llmpulse.events.content import messages_text, prefix_hash
from llmpulse.events.redaction import Redactor
from llmpulse.sdk.context import new_span_id, new_trace_id

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("llmpulse.sdk")

T = TypeVar("T")
EVENT = "event"
SPAN = "span"
SCORE = "score"
LOG = "log"
MAX_SCORES_PER_POST = 1000  # the collector's limit per request
_CONTENT_FIELDS = ("prompt", "completion", "input", "output", "error_message")
MAX_CONTENT_CHARS = 100_000  # per prompt or completion; the rest is cut
# A call's prompt as given, kept until export (never sent): see LlmCall.
PROMPT_SNAPSHOT = "_prompt_snapshot"
MAX_BODY_BYTES = 4 << 20
_exporters: weakref.WeakSet[Exporter] = weakref.WeakSet()


class Exporter:
    def __init__(
        self,
        endpoint: str,
        api_key: str | None,
        redactor: Redactor,
        *,
        max_queue: int = 10_000,
        batch_size: int = 500,
        interval_s: float = 1.0,
        timeout_s: float = 10.0,
        max_backoff_s: float = 30.0,
        service_name: str | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._headers = {"Content-Encoding": "gzip", "User-Agent": "llmpulse-sdk"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._redactor = redactor
        self.max_queue = max_queue
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._max_backoff_s = max_backoff_s
        self._service_name = service_name
        # Counters, read by tests and by `llmpulse.stats()`.
        self.sent = 0
        self.dropped = 0  # queue full: the oldest items were dropped
        self.refused = 0  # the collector refused them (4xx other than 408/429)
        self._reset_runtime()
        _exporters.add(self)

    def _reset_runtime(self) -> None:
        """Fresh queue, locks and thread: at start and in a forked child (a thread does
        not survive fork, and a lock held by one at that moment would never be released)."""
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._closing = threading.Event()  # ends a backoff wait at shutdown
        self._in_flight = 0
        self._failures = 0  # consecutive failed deliveries, for the backoff
        self._owed = 0  # items of the batch in flight to drop if it comes back
        # Held by the exporter thread while its HTTP client is made or sends (TLS and
        # socket code take locks of their own); a fork waits for it, so the child never
        # inherits such a lock held by a thread that does not exist there.
        self._io = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None

    # --- the caller's side -------------------------------------------------------------

    def submit(self, kind: str, item: dict[str, Any]) -> None:
        """Queue one item; O(1), never blocks on the network, never raises."""
        try:
            with self._lock:
                if self._closed:
                    return
                # The bound counts the batch in flight too: memory stays bounded however
                # long the collector is away. The oldest item goes: one in flight (older
                # than any queued) is dropped when its batch comes back undelivered.
                if len(self._queue) + self._in_flight >= self.max_queue:
                    if self._in_flight > self._owed:
                        self._owed += 1
                    elif self._queue:
                        self._queue.popleft()
                        self.dropped += 1
                    else:
                        self.dropped += 1
                        return
                self._queue.append((kind, item))
                size = len(self._queue)
                if self._thread is None:
                    self._start_thread()
            if size >= self._batch_size:
                self._wake.set()
        except Exception:  # the application must never see our failure
            log.exception("llmpulse: could not queue an event")

    @property
    def closed(self) -> bool:
        return self._closed

    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + self._in_flight

    def flush(self, timeout: float = 5.0) -> bool:
        """Send everything queued so far; True when it was all delivered (or refused)."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._idle:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.set()
                self._idle.wait(min(remaining, 0.05))
        return True

    def shutdown(self, timeout: float = 5.0) -> bool:
        done = self.flush(timeout)
        with self._lock:
            self._closed = True
        self._closing.set()
        self._wake.set()
        return done

    def _after_fork(self) -> None:
        # The child starts empty: the parent still holds (and sends) what was queued.
        self._reset_runtime()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="llmpulse-exporter", daemon=True)
        self._thread.start()

    # --- the exporter thread -----------------------------------------------------------

    def _run(self) -> None:
        import httpx  # here, not at the top: `import llmpulse` stays fast

        with self._io:
            client = httpx.Client(timeout=self._timeout_s)
        try:
            while True:
                self._wake.wait(self._interval_s)
                self._wake.clear()
                while batch := self._take():
                    undelivered: list[tuple[str, dict[str, Any]]] = []
                    wait = None
                    try:
                        undelivered, wait = self._deliver(client, batch)
                    except Exception:  # keep the thread alive whatever one batch does
                        log.exception("llmpulse: could not send %d items", len(batch))
                    finally:
                        self._give_back(batch, undelivered)
                    if wait is not None:
                        self._closing.wait(wait)
                with self._lock:
                    if self._closed:
                        return
        finally:
            client.close()

    def _take(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            n = min(self._batch_size, len(self._queue))
            batch = [self._queue.popleft() for _ in range(n)]
            self._in_flight += n
            return batch

    def _give_back(
        self, batch: list[tuple[str, dict[str, Any]]], undelivered: list[tuple[str, dict[str, Any]]]
    ) -> None:
        """The batch is no longer in flight; what was not delivered goes back to the head of
        the queue (after shutdown it is dropped), the oldest first out when over the bound."""
        with self._idle:
            self._in_flight -= len(batch)
            drop = len(undelivered) if self._closed else min(self._owed, len(undelivered))
            self._owed = 0  # a delivered item made room as well as a dropped one
            self.dropped += drop
            self._queue.extendleft(reversed(undelivered[drop:]))
            while len(self._queue) + self._in_flight > self.max_queue:
                self._queue.popleft()
                self.dropped += 1
            self._idle.notify_all()

    def _deliver(
        self, client: httpx.Client, batch: list[tuple[str, dict[str, Any]]]
    ) -> tuple[list[tuple[str, dict[str, Any]]], float | None]:
        """Send a batch, a request body at a time; returns what could not be delivered yet
        and how long to wait before trying it again (None: all delivered or refused)."""
        lines = [(pair, _json(self._event(pair[1])) + b"\n") for pair in batch if pair[0] == EVENT]
        spans = [(pair, self._span(pair[1])) for pair in batch if pair[0] == SPAN]
        # Request bodies: (path, its items with what is sent of each).
        posts: list[tuple[str, list[tuple[tuple[str, dict[str, Any]], Any]]]] = [
            ("/v1/events", part) for part in _parts([(x, len(x[1])) for x in lines])
        ]
        logs = [(pair, _json(pair[1]) + b"\n") for pair in batch if pair[0] == LOG]
        posts += [("/v1/logs", part) for part in _parts([(x, len(x[1])) for x in logs])]
        posts += [("/v1/traces", part) for part in _parts([(x, len(_json(x[1]))) for x in spans])]
        scores = [(pair, pair[1]) for pair in batch if pair[0] == SCORE]
        posts += [
            ("/v1/scores", scores[i : i + MAX_SCORES_PER_POST])
            for i in range(0, len(scores), MAX_SCORES_PER_POST)
        ]
        for n, (path, part) in enumerate(posts):
            if path in ("/v1/events", "/v1/logs"):
                body, content_type = b"".join(line for _, line in part), "application/x-ndjson"
            elif path == "/v1/scores":
                body, content_type = _json([score for _, score in part]), "application/json"
            else:
                body = _json(otlp_json([span for _, span in part], self._service_name))
                content_type = "application/json"
            wait = self._post(client, path, content_type, body, len(part))
            if wait is not None:
                return [pair for _, later in posts[n:] for pair, _ in later], wait
        return [], None

    def _post(
        self, client: httpx.Client, path: str, content_type: str, body: bytes, count: int
    ) -> float | None:
        """One attempt: None when delivered or refused, else the seconds to wait before the
        next (Retry-After, or exponential backoff with jitter)."""
        headers = {**self._headers, "Content-Type": content_type}
        wait: float | None = None
        try:
            data = gzip.compress(body, compresslevel=5)
            with self._io:
                response = client.post(self.endpoint + path, content=data, headers=headers)
            status = response.status_code
            if status < 300:
                self.sent += count
                self._failures = 0
                return None
            if status in (429, 503):
                wait = retry_after(response.headers.get("retry-after"))
            elif status < 500 and status != 408:
                self.refused += count
                log.warning("llmpulse: collector refused %d items (%d): %s", count, status,
                            response.text[:500])  # fmt: skip
                return None
        except Exception as exc:  # httpx's transport errors; never fatal here
            log.debug("llmpulse: collector unreachable (%s), will retry", exc)
        self._failures += 1
        if wait is None:
            backoff = 0.25 * 2 ** (self._failures - 1)
            wait = min(self._max_backoff_s, backoff) * random.uniform(0.5, 1.5)
        return wait

    def _event(self, item: dict[str, Any]) -> dict[str, Any]:
        """An event as sent (a new dict: `item` may be sent again): its ids fixed on the item
        once, so every retry carries the same; content redacted; the start time ISO 8601."""
        # From `random` (reseeded after fork): uuid4's os.urandom is a syscall per event.
        item.setdefault("event_id", str(uuid.UUID(int=random.getrandbits(128), version=4)))
        if "trace_id" not in item:
            item["trace_id"], item["span_id"] = new_trace_id(), new_span_id()
        event = dict(item)
        event["ts"] = _iso(event.pop("start_ns"))
        snapshot = event.pop(PROMPT_SNAPSHOT, None)
        if snapshot is not None:
            text = messages_text(snapshot)
            if (prefix := prefix_hash(text)) is not None:
                event.setdefault("prompt_prefix_hash", prefix)
            if "prompt" in event:
                event["prompt"] = text[:MAX_CONTENT_CHARS]
        if "completion" in event:
            event["completion"] = messages_text(event["completion"])[:MAX_CONTENT_CHARS]
        self._redact(event)
        return event

    def _span(self, item: dict[str, Any]) -> dict[str, Any]:
        span = dict(item)
        self._redact(span)
        return span

    def _redact(self, item: dict[str, Any]) -> None:
        for name in _CONTENT_FIELDS:
            if item.get(name):
                item[name] = self._redactor.text(item[name])
        if item.get("metadata"):
            item["metadata"] = self._redactor.value(item["metadata"])


def retry_after(header: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped."""
    if not header:
        return None
    try:
        return min(float(header), 300.0)
    except ValueError:
        pass
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(header)
        return min(max(0.0, when.timestamp() - time.time()), 300.0)
    return None


def _json(item: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    """orjson: a tenth of json's time, on a thread sharing the GIL with the application."""
    return orjson.dumps(item, default=str, option=orjson.OPT_NON_STR_KEYS)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")


def _parts(sized: list[tuple[T, int]]) -> list[list[T]]:
    """Items grouped into request bodies of about MAX_BODY_BYTES at most (the collector
    refuses bodies over 10 MB; 500 events with long prompts can pass that)."""
    parts: list[list[T]] = []
    size = 0
    for item, item_size in sized:
        if not parts or size + item_size > MAX_BODY_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(item)
        size += item_size
    return parts


def _attribute(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, list | tuple):
        values = [_attribute("", v)["value"] for v in value]
        return {"key": key, "value": {"arrayValue": {"values": values}}}
    return {"key": key, "value": {"stringValue": str(value)}}


def otlp_json(spans: list[dict[str, Any]], service_name: str | None) -> dict[str, Any]:
    """Custom spans as an OTLP/JSON export, with OpenInference attributes: the collector
    maps them like any other OpenTelemetry span."""
    encoded = []
    for span in spans:
        attributes = {"openinference.span.kind": span["kind"].upper()}
        for name, key in (
            ("input", "input.value"),
            ("output", "output.value"),
            ("user_id", "user.id"),
            ("session_id", "session.id"),
        ):
            if span.get(name) is not None:
                attributes[key] = span[name]
        for key, value in (span.get("metadata") or {}).items():
            attributes[f"llmpulse.metadata.{key}"] = value
        if span.get("tags"):
            attributes["llmpulse.tags"] = span["tags"]
        if span.get("error_type"):
            attributes["error.type"] = span["error_type"]
        encoded.append(
            {
                "traceId": span["trace_id"],
                "spanId": span["span_id"],
                "parentSpanId": span.get("parent_span_id") or "",
                "name": span["name"],
                "kind": 1,
                "startTimeUnixNano": str(span["start_ns"]),
                "endTimeUnixNano": str(span["end_ns"]),
                "attributes": [_attribute(k, v) for k, v in attributes.items()],
                "status": (
                    {"code": 2, "message": span.get("error_message") or ""}
                    if span.get("error_type")
                    else {"code": 1}
                ),
            }
        )
    resource = [_attribute("service.name", service_name)] if service_name else []
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": resource},
                "scopeSpans": [{"scope": {"name": "llmpulse"}, "spans": encoded}],
            }
        ]
    }


def _before_fork() -> None:
    for exporter in list(_exporters):
        exporter._io.acquire()


def _after_fork_in_parent() -> None:
    for exporter in list(_exporters):
        exporter._io.release()


def _after_fork_in_child() -> None:
    for exporter in list(_exporters):
        exporter._after_fork()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)

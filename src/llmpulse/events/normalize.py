"""Validate raw events and turn them into `llm_events` rows (flat, costed, ids canonical)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import orjson
from pydantic import ValidationError

from llmpulse.events.descriptors import describe
from llmpulse.events.schema import (
    EVENT_FIELDS,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_CHARS,
    event_validator,
    validation_problems,
)
from llmpulse.pricing.dated import ProjectPrices
from llmpulse.pricing.prices import PriceBook, Tokens

log = logging.getLogger(__name__)
MAX_FUTURE_MS = 5 * 60 * 1000
DAY_MS = 86_400_000
# Non-UUID event ids map to a UUIDv5 in this namespace, so retries of them still dedupe.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c4a52-3a51-4d3e-9c55-5b0e7a1d1e0f")

_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Rejection:
    index: int
    field: str
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "error": self.error}


@dataclass
class Batch:
    """The outcome of validating one request: rows to store and what was rejected."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    # (event_id, ts in epoch ms, whether ts was defaulted) per row, for deduplication.
    keys: list[tuple[str, int, bool]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    rejected_indexes: list[int] = field(default_factory=list)


def canonical_event_id(raw: str) -> str:
    """The stored form of a client event id: its UUID, or a UUIDv5 derived from the string."""
    if _UUID_RE.fullmatch(raw):
        return raw
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return str(uuid.uuid5(EVENT_ID_NAMESPACE, raw))


_NONE: Mapping[int, str] = MappingProxyType({})
# Checks one item; appends its row and key to the batch, or returns its problems.
OneItem = Callable[[Any, Batch], list[tuple[str, str]]]


def collect(items: list[Any], malformed: Mapping[int, str], one: OneItem) -> Batch:
    """A batch of `items` checked by `one`; those listed in `malformed` (by index, with the
    reason) are rejected as they are, and an item `one` fails on is rejected alone."""
    out = Batch()
    for index, item in enumerate(items):
        try:
            problems = [("", malformed[index])] if index in malformed else one(item, out)
        except Exception as exc:  # one odd item must not fail its batch
            problems = [("", f"could not be processed: {type(exc).__name__}: {exc}")]
        if problems:
            out.rejected_indexes.append(index)
            out.rejections.extend(Rejection(index, f, e) for f, e in problems)
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)


def epoch_ms(ts: datetime) -> int:
    """Epoch milliseconds; a naive time is taken as UTC."""
    return (ts - (_EPOCH if ts.tzinfo is not None else _EPOCH_NAIVE)) // _MS


def _text(value: Any) -> str:
    """A metadata value as stored: strings as they are, anything else as JSON text.
    Raises TypeError for what JSON text cannot hold here (integers beyond 64 bits inside
    an object, nesting deeper than 255 levels)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return orjson.dumps(value).decode()


def metadata_map(
    metadata: dict[str, Any] | None, extra: dict[str, Any]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The stored metadata (given values, then unknown top-level fields) and the problems
    that keep the event out."""
    out = {k: _text(v) for k, v in (metadata or {}).items()}
    problems = []
    for key, value in extra.items():
        try:
            text = _text(value)
        except TypeError as exc:
            reason = f"cannot be stored ({exc}): keep it shallow, integers within 64 bits"
            problems.append((key, reason))
            continue
        if len(text) > MAX_METADATA_VALUE_CHARS:
            reason = f"must be at most {MAX_METADATA_VALUE_CHARS} characters as JSON text"
            problems.append((key, reason))
        out[key] = text
    if len(out) > MAX_METADATA_KEYS:
        problems.append(
            ("metadata", f"at most {MAX_METADATA_KEYS} keys, unknown top-level fields included")
        )
    return out, problems


class Normalizer:
    """Validates events for one project; stateless apart from the price cache."""

    def __init__(self, prices: PriceBook, retention_days: int) -> None:
        self._prices = prices
        self._retention_ms = retention_days * DAY_MS

    def ts_problem(self, ts_ms: int, received_ms: int) -> str | None:
        """Why a time cannot be stored: too far in the future or past retention."""
        if ts_ms > received_ms + MAX_FUTURE_MS:
            return "must not be more than 5 minutes in the future"
        if ts_ms < received_ms - self._retention_ms:
            return f"is older than the {self._retention_ms // DAY_MS}-day retention window"
        return None

    def batch(
        self,
        items: list[Any],
        project: str,
        received_ms: int,
        prices: ProjectPrices | None = None,
        malformed: Mapping[int, str] = _NONE,
    ) -> Batch:
        """Validate `items`; those listed in `malformed` (by index, with the reason) are
        rejected as they are."""
        return collect(
            items, malformed, lambda item, out: self._one(item, project, received_ms, prices, out)
        )

    def _one(
        self,
        item: Any,
        project: str,
        received_ms: int,
        prices: ProjectPrices | None,
        out: Batch,
    ) -> list[tuple[str, str]]:
        if not isinstance(item, dict):
            return [("", f"an event must be a JSON object, got {type(item).__name__}")]
        try:
            event: dict[str, Any] = event_validator.validate_python(item)  # type: ignore[assignment]
        except ValidationError as exc:
            return validation_problems(exc)

        # The validated dict becomes the row. Keys it lacks (and None values) take the
        # column's default in the store, so rows carry only what the event said.
        row = event
        get = row.get
        ttft_ms, error_type, status = get("ttft_ms"), get("error_type"), get("status")
        if ttft_ms is not None and ttft_ms > row["latency_ms"]:
            return [("ttft_ms", "must not exceed latency_ms")]
        # To the microsecond: finer is noise, and a value like 1e-300 next to an hour would
        # stretch a DDSketch's key range past what ClickHouse allows, failing every query.
        row["latency_ms"] = round(row["latency_ms"], 3)
        if ttft_ms is not None:
            row["ttft_ms"] = round(ttft_ms, 3)
        if error_type is not None and status == "ok":
            return [("status", "must be 'error' when error_type is set")]
        ts = get("ts")
        ts_ms = received_ms if ts is None else epoch_ms(ts)
        ts_problem = self.ts_problem(ts_ms, received_ms)
        if ts_problem:
            return [("ts", ts_problem)]

        extra = row.keys() - EVENT_FIELDS
        event_id = get("event_id")
        event_id = canonical_event_id(event_id) if event_id else str(uuid.uuid4())
        if status == "error" or error_type is not None:
            row["status"], row["error_type"] = "error", error_type or "other"
        else:
            row["status"] = "ok"
        if get("operation") is None:
            row["operation"] = "chat"
        if get("cost_usd") is not None:
            row["cost_source"] = "reported"
        else:
            model_id = row["model_id"]
            tokens = Tokens(
                get("tokens_in") or 0,
                get("tokens_out") or 0,
                get("tokens_cached") or 0,
                get("tokens_reasoning") or 0,
            )
            dated = prices.rates_at(model_id, ts_ms) if prices else None
            cost = self._prices.cost(model_id, get("provider"), tokens, dated)
            row["cost_usd"], row["cost_source"], row["provider"] = cost
        experiment = row.pop("experiment", None)
        if experiment:
            row["experiment_name"] = experiment["name"]
            row["experiment_variant"] = experiment["variant"]
        client = row.pop("client", None)
        if client:
            row["client_app"], row["client_os"] = client.get("app"), client.get("os")
        prompt, completion = get("prompt"), get("completion")
        json_requested = row.pop("response_format", None) == "json"
        if prompt or completion:
            try:
                row.update(describe(prompt, completion, json_requested))
            except Exception:  # an analyser's failure must not cost the call: no descriptors
                log.exception("text descriptors failed for event %s", get("event_id"))
        metadata = get("metadata")
        if metadata or extra:
            row["metadata"], problems = metadata_map(metadata, {k: row.pop(k) for k in extra})
            if problems:
                return problems
        row["project"] = project
        row["event_id"] = event_id
        row["ts"] = ts_ms / 1000
        row["received_at"] = received_ms / 1000
        out.rows.append(row)
        out.keys.append((event_id, ts_ms, ts is None))
        return []

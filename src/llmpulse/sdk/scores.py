"""`llmpulse.score(...)`: feedback on a call or a trace, queued and sent like events."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Literal

from llmpulse.sdk import client
from llmpulse.sdk.context import current_span
from llmpulse.sdk.exporter import SCORE


def current_trace_id() -> str | None:
    """The trace of the current `observe` span, if any: what to score the whole of later."""
    span = current_span()
    return span.trace_id if span else None


def score(
    name: str,
    value: float | bool | str,
    *,
    event_id: str | None = None,
    trace_id: str | None = None,
    source: Literal["user", "annotator", "eval"] = "user",
    comment: str | None = None,
    data_type: Literal["numeric", "boolean", "categorical"] | None = None,
    score_id: str | None = None,
) -> str:
    """Score a call (its `event_id`) or a trace (`trace_id`; by default the current one).

    Numbers are numeric scores, True/False boolean, strings categorical labels. Returns the
    score's id: score again with it to replace the score. Never blocks on the network;
    checked by the collector (a refused score is logged and counted in `stats()`)."""
    if event_id is None and trace_id is None:
        trace_id = current_trace_id()
        if trace_id is None:
            raise ValueError("score() needs an event_id or trace_id outside a traced block")
    score_id = score_id or str(uuid.UUID(int=random.getrandbits(128), version=4))
    item: dict[str, object] = {"score_id": score_id, "name": name, "value": value}
    item.update(
        (k, v)
        for k, v in (
            ("event_id", event_id),
            ("trace_id", trace_id),
            ("comment", comment),
            ("data_type", data_type),
        )
        if v is not None
    )
    item["source"] = source
    item["ts"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    client.submit(SCORE, item)
    return score_id

"""The payload of a spool record: what the ingest route writes and the loader reads.

A record is one kind byte, a JSON header line, then NDJSON rows ready for the table:
- `E` events: header = {"k": [[project, event_id, ts_ms, ts_defaulted], ...], "c": [call,
  ...]}, one of each per row, so the loader can deduplicate, and count the calls it stores
  for Prometheus (genai_metrics.Call), without parsing the rows; records written before
  calls were kept have the list of keys alone as their header;
- `S` trace spans (not LLM calls): header and rows as for events, rows for `trace_spans`;
- `R` rejected events: header = [], rows for `rejected_events`;
- `P` social posts, `L` application logs, `M` custom metric points: header and rows as
  for spans, rows for `social_posts`, `app_logs`, `custom_metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import orjson

from llmpulse.ingest.genai_metrics import Call

EVENTS = b"E"
REJECTED = b"R"
SPANS = b"S"
POSTS = b"P"
LOGS = b"L"
METRICS = b"M"
EventKey = tuple[str, str, int, bool]


@dataclass
class Record:
    kind: bytes
    keys: list[EventKey]
    rows: bytes  # NDJSON, one line per row, newline-terminated
    calls: list[Call] | None = None  # events: one per row


def encode(
    kind: bytes, keys: list[EventKey], rows: list[dict[str, Any]], calls: list[Call] | None = None
) -> bytes:
    body = b"".join(orjson.dumps(row) + b"\n" for row in rows)
    header = {"k": keys, "c": calls} if calls is not None else keys
    return kind + orjson.dumps(header) + b"\n" + body


def decode(payload: bytes) -> Record:
    header, _, rows = payload[1:].partition(b"\n")
    parsed = orjson.loads(header)
    # JSON arrays come back as lists; they unpack like the tuples written.
    if isinstance(parsed, dict):
        return Record(payload[:1], cast(list[EventKey], parsed["k"]), rows,
                      cast(list[Call], parsed["c"]))  # fmt: skip
    return Record(payload[:1], cast(list[EventKey], parsed), rows)

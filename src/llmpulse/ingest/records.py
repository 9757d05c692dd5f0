"""The payload of a spool record: what the ingest route writes and the loader reads.

A record is one kind byte, a JSON header line, then NDJSON rows ready for the table:
- `E` events: header = [[project, event_id, ts_ms, ts_defaulted], ...], one per row, so
  the loader can deduplicate without parsing the rows;
- `S` trace spans (not LLM calls): header and rows as for events, rows for `trace_spans`;
- `R` rejected events: header = [], rows for `rejected_events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import orjson

EVENTS = b"E"
REJECTED = b"R"
SPANS = b"S"
EventKey = tuple[str, str, int, bool]


@dataclass
class Record:
    kind: bytes
    keys: list[EventKey]
    rows: bytes  # NDJSON, one line per row, newline-terminated


def encode(kind: bytes, keys: list[EventKey], rows: list[dict[str, Any]]) -> bytes:
    body = b"".join(orjson.dumps(row) + b"\n" for row in rows)
    return kind + orjson.dumps(keys) + b"\n" + body


def decode(payload: bytes) -> Record:
    header, _, rows = payload[1:].partition(b"\n")
    # JSON arrays come back as lists; they unpack like the EventKey tuples written.
    keys = cast(list[EventKey], orjson.loads(header))
    return Record(payload[:1], keys, rows)

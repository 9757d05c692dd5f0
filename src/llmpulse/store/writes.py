"""Writes to the event tables, and the lookup that keeps them free of duplicates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from llmpulse.store.engine import Engine

EVENTS_TABLE = "llm_events"
REJECTED_TABLE = "rejected_events"
# Ids per lookup query: keeps the statement (and a server's URL) a sane size.
_LOOKUP_CHUNK = 5_000


def _ms_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def stored_event_ids(
    engine: Engine,
    project: str,
    ids: Sequence[str],
    timestamps_ms: Sequence[int],
    since_ms: int | None = None,
) -> set[str]:
    """Which of `ids` the project already has.

    Rows are sorted by (project, ts, event_id), so the lookup is by exact ts (a retry
    carries the ts of its first send); `since_ms` widens it to every ts from then on, for
    events whose ts the server assigned on receipt and so differs between sends.
    """
    found: set[str] = set()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = list(ids[start : start + _LOOKUP_CHUNK])
        params: dict[str, object] = {"p": project, "ids": chunk}
        if since_ms is None:
            ts_filter = "ts IN {ts:Array(DateTime64(3, 'UTC'))}"
            stamps = {timestamps_ms[i] for i in range(start, start + len(chunk))}
            # Epoch seconds with milliseconds: exact, and much cheaper than date strings.
            params["ts"] = [f"{ms // 1000}.{ms % 1000:03d}" for ms in stamps]
        else:
            ts_filter = "ts >= {since:DateTime64(3, 'UTC')}"
            params["since"] = _ms_datetime(since_ms)
        rows = engine.rows(
            f"SELECT toString(event_id) AS id FROM {EVENTS_TABLE} "
            f"WHERE project = {{p:String}} AND {ts_filter} AND event_id IN {{ids:Array(UUID)}}",
            params,  # type: ignore[arg-type]
        )
        found.update(r["id"] for r in rows)
    return found


def insert_events(engine: Engine, ndjson: bytes) -> None:
    engine.insert_json_rows(EVENTS_TABLE, ndjson)


def insert_rejected(engine: Engine, ndjson: bytes) -> None:
    engine.insert_json_rows(REJECTED_TABLE, ndjson)

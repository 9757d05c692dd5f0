"""Erasure of one user's data in a project: their calls, spans and scores, and their rows in
the per-user rollup, deleted from the store; a tombstone kept so the lake's exports and
backfills leave them out for good. The hourly rollups without a user dimension keep
counting the calls, as anonymous totals."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from llmpulse.query.filters import iso_ms
from llmpulse.store.documents import insert_rows
from llmpulse.store.engine import Engine
from llmpulse.store.tables import DIMENSION_ROLLUP_1H, ERASURES, EVENTS, SCORES, SPANS

_USER = "project = {p:String} AND user_id = {u:String}"
# Scores hang on the user's calls or traces; found before the calls are deleted.
_SCORES = (
    "project = {p:String} AND (event_id IN (SELECT toString(event_id) FROM "
    f"{EVENTS} WHERE {_USER}) OR (trace_id != '' AND trace_id IN (SELECT trace_id FROM "
    f"{EVENTS} WHERE {_USER} AND trace_id != '')))"
)
_ROLLUP = "project = {p:String} AND dimension = 'user_id' AND value = {u:String}"


def _count(engine: Engine, table: str, where: str, params: dict[str, Any]) -> int:
    return int(engine.rows(f"SELECT count() AS n FROM {table} WHERE {where}", params)[0]["n"])


def erase(engine: Engine, project: str, user_id: str) -> dict[str, Any]:
    """Delete the user's data and return the receipt, once every delete has completed."""
    params: dict[str, Any] = {"p": project, "u": user_id}
    deleted = {
        "scores": _count(engine, SCORES, _SCORES, params),
        "spans": _count(engine, SPANS, _USER, params),
        "events": _count(engine, EVENTS, _USER, params),
        "user_rollup_rows": _count(engine, DIMENSION_ROLLUP_1H, _ROLLUP, params),
    }
    # Lightweight deletes: rows vanish from every read at once, parts are cleaned later.
    # Scores first: their lookup reads the calls.
    engine.execute(f"DELETE FROM {SCORES} WHERE {_SCORES}", params)
    engine.execute(f"DELETE FROM {SPANS} WHERE {_USER}", params)
    engine.execute(f"DELETE FROM {EVENTS} WHERE {_USER}", params)
    engine.execute(
        f"ALTER TABLE {DIMENSION_ROLLUP_1H} DELETE WHERE {_ROLLUP} SETTINGS mutations_sync = 2",
        params,
    )
    erased_ms = time.time_ns() // 1_000_000
    receipt = {
        "id": str(uuid.uuid4()),
        "project": project,
        "user_id": user_id,
        "erased_at": iso_ms(erased_ms),
        "status": "complete",
        "deleted": deleted,
    }
    insert_rows(engine, ERASURES, [{"project": project, "user_id": user_id,
                                    "erased_at": erased_ms / 1000,
                                    "receipt": json.dumps(receipt)}])  # fmt: skip
    return receipt


def recent(engine: Engine, project: str, limit: int = 100) -> list[dict[str, Any]]:
    """The project's erasure receipts, newest first."""
    rows = engine.rows(
        f"SELECT receipt FROM {ERASURES} WHERE project = {{p:String}} "
        f"ORDER BY erased_at DESC LIMIT {int(limit)}",
        {"p": project},
    )
    return [json.loads(r["receipt"]) for r in rows]

"""Erasure of one user's data in a project: their calls, spans and scores, and their rows in
the per-user rollup, deleted from the store; a tombstone kept so the lake's exports and
backfills leave them out for good. The hourly rollups without a user dimension keep
counting the calls, as anonymous totals."""

from __future__ import annotations

import time
import uuid
from typing import Any

from llmpulse.query.filters import iso_ms
from llmpulse.store import erasure
from llmpulse.store.engine import Engine


def erase(engine: Engine, project: str, user_id: str) -> dict[str, Any]:
    """Delete the user's data and return the receipt, once every delete has completed."""
    deleted = erasure.delete_user(engine, project, user_id)
    erased_ms = time.time_ns() // 1_000_000
    receipt = {
        "id": str(uuid.uuid4()),
        "project": project,
        "user_id": user_id,
        "erased_at": iso_ms(erased_ms),
        "status": "complete",
        "deleted": deleted,
    }
    erasure.record(engine, project, user_id, erased_ms, receipt)
    return receipt


def recent(engine: Engine, project: str, limit: int = 100) -> list[dict[str, Any]]:
    """The project's erasure receipts, newest first."""
    return erasure.receipts(engine, project, limit)

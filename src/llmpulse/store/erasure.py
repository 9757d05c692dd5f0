"""Deleting one user's data in a project, and the tombstones of erasures (013_lifecycle.sql)."""

from __future__ import annotations

import json
from typing import Any

from llmpulse.store.documents import insert_rows
from llmpulse.store.engine import Engine
from llmpulse.store.tables import DIMENSION_ROLLUP_1H, ERASURES, EVENTS, SCORES, SPANS

_USER = "project = {p:String} AND user_id = {u:String}"
# Scores hang on the user's calls or traces, found before the calls are deleted.
_SCORES = (
    "project = {p:String} AND (event_id IN {calls:Array(String)} "
    "OR (trace_id != '' AND trace_id IN {traces:Array(String)}))"
)
_ROLLUP = "project = {p:String} AND dimension = 'user_id' AND value = {u:String}"


def _count(engine: Engine, table: str, where: str, params: dict[str, Any]) -> int:
    return int(engine.rows(f"SELECT count() AS n FROM {table} WHERE {where}", params)[0]["n"])


def delete_user(engine: Engine, project: str, user_id: str) -> dict[str, int]:
    """Delete the user's calls, spans, the scores on them and their per-user rollup rows;
    returns how many of each, once every delete has completed."""
    params: dict[str, Any] = {"p": project, "u": user_id}
    calls = engine.rows(
        f"SELECT groupArray(toString(event_id)) AS calls, "
        f"groupUniqArrayIf(trace_id, trace_id != '') AS traces FROM {EVENTS} WHERE {_USER}",
        params,
    )[0]
    params.update(calls=calls["calls"], traces=calls["traces"])
    deleted = {
        "scores": _count(engine, SCORES, _SCORES, params),
        "spans": _count(engine, SPANS, _USER, params),
        "events": _count(engine, EVENTS, _USER, params),
        # Hours with the user: stored rows of one hour may not be merged yet (or, on a
        # cluster, sit on several shards).
        "user_rollup_rows": _count(
            engine,
            f"(SELECT DISTINCT hour FROM {DIMENSION_ROLLUP_1H} WHERE {_ROLLUP})",
            "1",
            params,
        ),
    }
    # Lightweight deletes, on each shard: rows vanish from every read at once, parts are
    # cleaned later.
    for shard in engine.shards():
        shard.execute(f"DELETE FROM {SCORES} WHERE {_SCORES}", params)
        shard.execute(f"DELETE FROM {SPANS} WHERE {_USER}", params)
        shard.execute(f"DELETE FROM {EVENTS} WHERE {_USER}", params)
        shard.execute(
            f"ALTER TABLE {DIMENSION_ROLLUP_1H} DELETE WHERE {_ROLLUP} SETTINGS mutations_sync = 2",
            params,
        )
    return deleted


def record(
    engine: Engine, project: str, user_id: str, erased_ms: int, receipt: dict[str, Any]
) -> None:
    """The tombstone, with its receipt."""
    insert_rows(engine, ERASURES, [{"project": project, "user_id": user_id,
                                    "erased_at": erased_ms / 1000,
                                    "receipt": json.dumps(receipt)}])  # fmt: skip


def receipts(engine: Engine, project: str, limit: int) -> list[dict[str, Any]]:
    """The project's erasure receipts, newest first."""
    rows = engine.rows(
        f"SELECT receipt FROM {ERASURES} WHERE project = {{p:String}} "
        f"ORDER BY erased_at DESC LIMIT {int(limit)}",
        {"p": project},
    )
    return [json.loads(r["receipt"]) for r in rows]

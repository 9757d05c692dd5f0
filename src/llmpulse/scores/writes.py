"""Storing scores: each name keeps one data type; scores whose event or trace is not
stored are kept and reported as orphans (they join once it arrives)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from llmpulse.api.bodies import Problem
from llmpulse.api.errors import ApiError
from llmpulse.query.scores import matched
from llmpulse.scores.model import Score, check_value
from llmpulse.store.engine import Engine
from llmpulse.store.tables import SCORES


def record(engine: Engine, project: str, scores: list[Score], many: bool) -> list[dict[str, Any]]:
    """Store `scores` (all or none); per score its id and whether it is an orphan."""
    known = _data_types(engine, project, sorted({s.name for s in scores}))
    for index, score in enumerate(scores):
        where = f"[{index}]." if many else ""
        data_type = known.setdefault(score.name, str(score.data_type))
        try:
            if score.data_type != data_type:
                check_value(data_type, score.value, score.name)
        except Problem as problem:
            message = str(problem)
            raise ApiError(
                422, f"{where}value: {message}", [{"field": f"{where}value", "error": message}]
            ) from None
        score.data_type = data_type  # type: ignore[assignment]  # checked just above
    received = datetime.now(UTC)
    rows = [s.row(project, s.score_id or str(uuid.uuid4()), received) for s in scores]
    engine.insert_json_rows(SCORES, b"".join(json.dumps(r).encode() + b"\n" for r in rows))
    found = matched(engine, project, rows)
    return [
        {"score_id": r["score_id"], "orphan": (r["event_id"] or r["trace_id"]) not in found}
        for r in rows
    ]


def _data_types(engine: Engine, project: str, names: list[str]) -> dict[str, str]:
    rows = engine.rows(
        f"SELECT name, any(data_type) AS data_type FROM {SCORES} "
        "WHERE project = {p:String} AND name IN {names:Array(String)} GROUP BY name",
        {"p": project, "names": names},
    )
    return {r["name"]: r["data_type"] for r in rows}

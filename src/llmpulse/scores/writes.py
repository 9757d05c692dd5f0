"""Storing scores: each name keeps one data type; scores whose event or trace is not
stored are kept and reported as orphans (they join once it arrives). In a batch, the
valid scores are stored and the others listed with the reason, as for events."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from llmpulse.api.bodies import Problem, checked
from llmpulse.api.errors import ApiError
from llmpulse.query.scores import matched
from llmpulse.scores.model import Score, check_value
from llmpulse.store.engine import Engine
from llmpulse.store.tables import SCORES


def record(engine: Engine, project: str, items: list[Any], many: bool) -> dict[str, Any]:
    """Check and store; 422 when no score is valid. The answer: each stored score's index,
    id and orphan flag, and each refused one's index, field and reason."""
    valid: list[tuple[int, Score]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            valid.append((index, checked(Score, item)))
        except ApiError as exc:
            errors += [{"index": index, **d} for d in exc.detail]
    known = _data_types(engine, project, sorted({s.name for _, s in valid}))
    kept: list[tuple[int, Score]] = []
    for index, score in valid:
        data_type = known.setdefault(score.name, str(score.data_type))
        try:
            if score.data_type != data_type:
                check_value(data_type, score.value, score.name)
        except Problem as problem:
            errors.append({"index": index, "field": "value", "error": str(problem)})
            continue
        score.data_type = data_type  # type: ignore[assignment]  # checked just above
        kept.append((index, score))
    if not kept:
        detail = [
            {"field": f"[{e['index']}].{e['field']}" if many else e["field"], "error": e["error"]}
            for e in sorted(errors, key=lambda e: e["index"])
        ]
        summary = "; ".join(f"{d['field']}: {d['error']}" for d in detail)
        raise ApiError(422, f"no valid score: {summary}", detail)
    received = datetime.now(UTC)
    rows = [s.row(project, s.score_id or str(uuid.uuid4()), received) for _, s in kept]
    found = matched(engine, project, rows)  # first: a failed read stores nothing
    engine.insert_json_rows(SCORES, b"".join(json.dumps(r).encode() + b"\n" for r in rows))
    stored: list[dict[str, Any]] = [
        {
            "index": index,
            "score_id": r["score_id"],
            "orphan": (r["event_id"] or r["trace_id"]) not in found,
        }
        for (index, _), r in zip(kept, rows, strict=True)
    ]
    orphans = sum(s["orphan"] for s in stored)
    return {"scores": stored, "orphans": orphans, "errors": sorted(errors, key=_index)}


def _index(error: dict[str, Any]) -> int:
    return int(error["index"])


def _data_types(engine: Engine, project: str, names: list[str]) -> dict[str, str]:
    rows = engine.rows(
        f"SELECT name, any(data_type) AS data_type FROM {SCORES} "
        "WHERE project = {p:String} AND name IN {names:Array(String)} GROUP BY name",
        {"p": project, "names": names},
    )
    return {r["name"]: r["data_type"] for r in rows}

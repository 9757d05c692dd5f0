"""POST /v1/scores (the ingest scope: apps and evaluators send them) and GET /v1/scores."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from llmpulse.api.auth import require
from llmpulse.api.bodies import checked
from llmpulse.api.errors import FieldError, error_responses
from llmpulse.api.openapi import answers
from llmpulse.meta.keys import INGEST, Grant
from llmpulse.query import scores as read
from llmpulse.query.params import Scoped, Store
from llmpulse.scores.model import MAX_SCORES, Score
from llmpulse.scores.writes import record

router = APIRouter(prefix="/v1", tags=["scores"], responses=error_responses(400, 401, 403, 422))
Sender = Annotated[Grant, Depends(require(INGEST))]


class Stored(BaseModel):
    score_id: str
    orphan: bool


class StoredScores(BaseModel):
    scores: list[Stored]
    orphans: int


class ScoreLog(BaseModel):
    scores: list[dict[str, Any]]


def _scores_body() -> dict[str, Any]:
    score = Score.model_json_schema()
    many = {"type": "array", "items": score, "minItems": 1, "maxItems": MAX_SCORES}
    return {
        "required": True,
        "content": {"application/json": {"schema": {"oneOf": [score, many]}}},
    }


@router.post(
    "/scores",
    summary="Send feedback or evaluation scores: one object or an array of up to 1,000",
    openapi_extra={"requestBody": _scores_body()},
    **answers(StoredScores, status=201),
)
async def post_scores(store: Store, sender: Sender, body: Annotated[Any, Body()]) -> dict[str, Any]:
    """Stored when it answers; an unknown event or trace id is kept and flagged `orphan`."""
    many = isinstance(body, list)
    items = body if many else [body]
    if not items or len(items) > MAX_SCORES:
        raise FieldError(422, "body", f"send 1 to {MAX_SCORES} scores")
    scores = [
        checked(Score, item, prefix=f"[{i}]." if many else "") for i, item in enumerate(items)
    ]
    stored = await run_in_threadpool(record, store, sender.project, scores, many)
    return {"scores": stored, "orphans": sum(s["orphan"] for s in stored)}


@router.get(
    "/scores",
    summary="Scores received in the range, newest first; orphans marked",
    **answers(ScoreLog),
)
async def list_scores(
    s: Scoped,
    store: Store,
    name: Annotated[str | None, Query(description="one score name")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    return await run_in_threadpool(read.log, store, s, name, limit)

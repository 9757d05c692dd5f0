"""POST /v1/scores (the ingest scope: apps and evaluators send them) and GET /v1/scores."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from llmpulse.api.auth import require
from llmpulse.api.errors import FieldError, error_responses
from llmpulse.api.openapi import answers
from llmpulse.ingest.body import BodyError, check_content_type, decompress, read_body
from llmpulse.meta.keys import INGEST, Grant
from llmpulse.query import scores as read
from llmpulse.query.params import Scoped, Store
from llmpulse.scores.model import MAX_SCORES, Score
from llmpulse.scores.writes import record

router = APIRouter(prefix="/v1", tags=["scores"], responses=error_responses(400, 401, 403, 422))
Sender = Annotated[Grant, Depends(require(INGEST))]


class Stored(BaseModel):
    index: int = Field(description="its place in the body (0 for a single score)")
    score_id: str
    orphan: bool = Field(description="no stored event or trace matches it (yet)")


class Refused(BaseModel):
    index: int
    field: str
    error: str


class StoredScores(BaseModel):
    scores: list[Stored]
    orphans: int
    errors: list[Refused] = Field(description="the scores not stored, and why")


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
    **answers(StoredScores, 413, 415, status=201),
)
async def post_scores(request: Request, store: Store, sender: Sender) -> dict[str, Any]:
    """Stored when it answers; an unknown event or trace id is kept and flagged `orphan`.
    In an array, the valid scores are stored and `errors` lists the others (422 when none
    is valid). The body may be gzip'd (Content-Encoding), as the SDK sends it."""
    check_content_type(request.headers.get("content-type"))
    data = decompress(await read_body(request), request.headers.get("content-encoding"))
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, "body", f"malformed JSON: {exc}") from exc
    many = isinstance(body, list)
    items = body if many else [body]
    if not items or len(items) > MAX_SCORES:
        raise FieldError(422, "body", f"send 1 to {MAX_SCORES} scores")
    return await run_in_threadpool(record, store, sender.project, items, many)


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

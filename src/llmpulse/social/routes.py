"""The social API: volume, sentiment, entities, top tags and authors, most engaged posts,
LLM agreement, and the project's enrichment settings. Posts come in through
POST /v1/social/posts (ingest/routes.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from llmpulse.api.auth import Admin, Reader
from llmpulse.api.bodies import Json, checked
from llmpulse.api.errors import error_responses
from llmpulse.api.openapi import answers
from llmpulse.api.services import Service
from llmpulse.events.posts import SocialPolicy
from llmpulse.events.settings import ProjectSettings
from llmpulse.query.metrics import INTERVALS
from llmpulse.query.params import Store, Windowed
from llmpulse.social import answers as a
from llmpulse.social import queries, settings

SOCIAL: Service[ProjectSettings[SocialPolicy]] = Service("social")
Policies = Annotated[ProjectSettings[SocialPolicy], Depends(SOCIAL)]
router = APIRouter(prefix="/v1/social", tags=["social"],
                   responses=error_responses(400, 401, 403, 422))  # fmt: skip
Interval = Annotated[str, Query(description=", ".join(INTERVALS))]
Limit = Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)]


def post_filter(
    s: Windowed,
    entity: Annotated[str | None, Query(description="a tracked entity, e.g. NVDA")] = None,
    platform: Annotated[str | None, Query(description="x, reddit, ...")] = None,
    lang: Annotated[str | None, Query(description="ISO 639-1 code")] = None,
) -> queries.PostFilter:
    return queries.PostFilter(s, entity, platform, lang)


Posts = Annotated[queries.PostFilter, Depends(post_filter)]


@router.get("/summary", summary="Posts, sentiment mix and means, engagement, authors, "
            "near-duplicate share, languages", **answers(a.Summary))  # fmt: skip
async def summary(f: Posts, store: Store) -> dict[str, Any]:
    return await run_in_threadpool(queries.summary, store, f)


@router.get("/timeseries", summary="Volume and sentiment per interval",
            **answers(a.Timeseries))  # fmt: skip
async def timeseries(f: Posts, store: Store, interval: Interval = "1h") -> dict[str, Any]:
    return await run_in_threadpool(queries.timeseries, store, f, interval)


@router.get("/entities", summary="Each tracked entity's mentions and sentiment, with its "
            "trend per interval", **answers(a.Entities))  # fmt: skip
async def entities(f: Posts, store: Store, interval: Interval = "1h") -> dict[str, Any]:
    return await run_in_threadpool(queries.entities, store, f, interval)


@router.get("/top", summary="Top hashtags, cashtags, mentions or authors by posts or "
            "engagement", **answers(a.Top))  # fmt: skip
async def top(
    f: Posts,
    store: Store,
    kind: Annotated[str, Query(description="hashtags, cashtags, mentions, authors")] = "hashtags",
    by: Annotated[str, Query(description="posts or engagement")] = "posts",
    limit: Limit = 10,
) -> dict[str, Any]:
    return await run_in_threadpool(queries.top, store, f, kind, by, limit)


@router.get("/posts", summary="The most engaged posts, near-duplicates marked",
            **answers(a.Posts))  # fmt: skip
async def most_engaged(f: Posts, store: Store, limit: Limit = 20) -> dict[str, Any]:
    return await run_in_threadpool(queries.most_engaged, store, f, limit)


@router.get("/classification", summary="How often the LLM's sentiment label agrees with "
            "VADER's (posts classified by `social consume --classify-with`)",
            **answers(a.Classification))  # fmt: skip
async def classification(f: Posts, store: Store) -> dict[str, Any]:
    return await run_in_threadpool(queries.classification, store, f)


@router.get("/settings", summary="Tracked entities and engagement weights",
            **answers(a.Settings))  # fmt: skip
async def get_settings(policies: Policies, reader: Reader) -> dict[str, Any]:
    return settings.described(policies.get(reader.project))


@router.put("/settings", summary="Set tracked entities and engagement weights; they apply "
            "to posts received from now on", **answers(a.Settings))  # fmt: skip
async def put_settings(
    body: Json, policies: Policies, store: Store, admin: Admin
) -> dict[str, Any]:
    policy = checked(settings.SocialBody, body).policy()
    await run_in_threadpool(settings.save, store, policies, admin.project, policy)
    return settings.described(policy)

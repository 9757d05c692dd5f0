"""The Social page: volume and sentiment over time, tracked entities, top tags and authors,
the most engaged posts, languages, near-duplicates and LLM agreement. JSON twins:
/v1/social/summary, /timeseries, /entities, /top, /posts, /classification."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from llmpulse.query.filters import Scope
from llmpulse.social import queries
from llmpulse.store.engine import Engine
from llmpulse.web import figures
from llmpulse.web.layout import View, page_context, templates, view
from llmpulse.web.pages import interval_name

router = APIRouter(include_in_schema=False)
Page = Annotated[View, Depends(view)]
_LABELS = ("positive", "neutral", "negative")


@router.get("/social", response_class=HTMLResponse)
async def social_page(v: Page) -> HTMLResponse:
    entity = v.request.query_params.get("entity") or None
    data = await run_in_threadpool(social_view, v.engine, v.scope, entity)
    charts = orjson.dumps(data["charts"]).decode().replace("</", "<\\/")
    context = page_context(v, "Social", data=data, figures_json=charts, entity=entity or "")
    return templates.TemplateResponse(v.request, "social.html", context)


def social_view(engine: Engine, scope: Scope, entity: str | None) -> dict[str, Any]:
    f = queries.PostFilter(Scope(scope.project, scope.start, scope.end), entity)
    interval = interval_name(scope)
    series = queries.timeseries(engine, f, interval)["points"]
    tracked = queries.entities(engine, f, interval)["entities"]
    volume = {label: [(p["t"], p["sentiment"][label]) for p in series] for label in _LABELS}
    sentiment = {
        "mean": [(p["t"], p["sentiment"]["mean"]) for p in series],
        "engagement-weighted": [(p["t"], p["sentiment"]["weighted_mean"]) for p in series],
    }
    charts = {
        f"Posts per {interval} by sentiment": figures.stacked_bars(volume, "posts"),
        "Sentiment (VADER compound, -1..1)": figures.lines(sentiment, "sentiment"),
    }
    if tracked:
        mentions = {e["entity"]: [(p["t"], p["posts"]) for p in e["trend"]] for e in tracked}
        mood = {e["entity"]: [(p["t"], p["sentiment_mean"]) for p in e["trend"]] for e in tracked}
        charts["Mentions per tracked entity"] = figures.lines(mentions, "posts")
        charts["Sentiment per tracked entity"] = figures.lines(mood, "sentiment")
    return {
        "summary": queries.summary(engine, f),
        "entities": tracked,
        "hashtags": queries.top(engine, f, "hashtags", "posts", 10)["items"],
        "cashtags": queries.top(engine, f, "cashtags", "posts", 10)["items"],
        "authors": queries.top(engine, f, "authors", "engagement", 10)["items"],
        "posts": queries.most_engaged(engine, f, 20)["posts"],
        "classification": queries.classification(engine, f),
        "charts": charts,
    }

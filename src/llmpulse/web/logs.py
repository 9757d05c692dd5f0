"""The Logs page: records by level over time, search by level, service, text and trace, the
newest matching records (each linked to its trace's LLM calls), and custom metrics charted.
JSON twins: /v1/logs, /v1/logs/counts, /v1/logs/facets, /v1/metrics/custom."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from llmpulse.query import logs
from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine
from llmpulse.web import figures
from llmpulse.web.layout import View, page_context, templates, view
from llmpulse.web.pages import interval_name

router = APIRouter(include_in_schema=False)
Page = Annotated[View, Depends(view)]
PAGE_ROWS = 200


@router.get("/logs", response_class=HTMLResponse)
async def logs_page(v: Page) -> HTMLResponse:
    q = v.request.query_params
    scope = Scope(v.scope.project, v.scope.start, v.scope.end)
    f = logs.LogFilter(scope, q.getlist("level"), q.getlist("service"), q.get("q") or None,
                       q.get("trace_id") or None)  # fmt: skip
    data = await run_in_threadpool(logs_view, v.engine, f)
    charts = orjson.dumps(data["charts"]).decode().replace("</", "<\\/")
    context = page_context(v, "Logs", data=data, figures_json=charts, f=f)
    return templates.TemplateResponse(v.request, "logs.html", context)


def logs_view(engine: Engine, f: logs.LogFilter) -> dict[str, Any]:
    interval = interval_name(f.scope)
    counts = logs.counts(engine, f, interval)
    found = {s["level"]: [(p["t"], p["records"]) for p in s["points"]] for s in counts["series"]}
    by_level = {level: found[level] for level in logs.LEVELS if level in found}  # in order
    return {
        "total": counts["total"],
        "facets": logs.facets(engine, f.scope),
        "records": logs.search(engine, f, PAGE_ROWS)["logs"],
        "levels": logs.LEVELS,
        "charts": {f"Records per {interval} by level": figures.stacked_bars(by_level, "records")},
    }

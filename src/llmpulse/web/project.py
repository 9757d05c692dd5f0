"""The Project & data page: how long the project's data is kept, what the server redacts
(and how often it did today), erasures (admins), the lake. JSON twins:
/v1/projects/{project}/retention, /v1/settings/redaction, /v1/users/erasures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from llmpulse.governance import erasure, redaction, retention
from llmpulse.governance.routes import Governance, Governed
from llmpulse.meta.keys import ADMIN
from llmpulse.web.layout import View, page_context, templates, view

router = APIRouter(include_in_schema=False)
Page = Annotated[View, Depends(view)]


@router.get("/project", response_class=HTMLResponse)
async def project_page(v: Page, g: Governed) -> HTMLResponse:
    data = await run_in_threadpool(project_view, g, v.project, ADMIN in v.scopes)
    context = page_context(v, "Project & data", data=data, figures_json="{}")
    return templates.TemplateResponse(v.request, "project.html", context)


def project_view(g: Governance, project: str, admin: bool) -> dict[str, Any]:
    periods = retention.all_periods(g.engine).get(project)
    policy = g.redactions.get(project)
    return {
        "retention": retention.described(periods, g.default_retention_days),
        "redaction": redaction.described(policy),
        "redacted": redaction.counts(g.engine, project),
        "erasures": erasure.recent(g.engine, project) if admin else None,
    }

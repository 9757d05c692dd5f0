"""The telemetry pages: overview, requests, models, errors, costs, users and sessions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from llmpulse.query import events
from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine
from llmpulse.web import pages
from llmpulse.web.layout import View, render, view

router = APIRouter(include_in_schema=False)
Page = Annotated[View, Depends(view)]


@router.get("/", response_class=HTMLResponse)
async def overview(v: Page) -> HTMLResponse:
    custom = v.request.query_params.get("custom") or None
    return await render("overview.html", v, pages.overview, custom, title="Overview")


@router.get("/requests", response_class=HTMLResponse)
async def requests_page(v: Page) -> HTMLResponse:
    search = v.request.query_params.get("q") or None

    def newest(engine: Engine, scope: Scope) -> dict[str, Any]:
        return {"requests": events.list_requests(engine, scope, 100, None, search)[0]}

    return await render("requests.html", v, newest, title="Requests")


@router.get("/models", response_class=HTMLResponse)
async def models_page(v: Page) -> HTMLResponse:
    chosen = v.request.query_params.getlist("compare")
    return await render("models.html", v, pages.models_page, chosen, title="Models")


@router.get("/errors", response_class=HTMLResponse)
async def errors_page(v: Page) -> HTMLResponse:
    return await render("errors.html", v, pages.errors_page, title="Errors")


@router.get("/users", response_class=HTMLResponse)
async def users_page(v: Page) -> HTMLResponse:
    return await render("users.html", v, pages.users_page, title="Users & sessions")


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(session_id: str, v: Page) -> HTMLResponse:
    return await render(
        "session.html", v, pages.session_page, session_id, title=f"Session {session_id}"
    )

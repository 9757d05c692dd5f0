"""Dashboard pages: server-rendered (Jinja2), charts drawn by Plotly.js from the plotly package."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import plotly
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from llmpulse.events.taxonomy import DIMENSIONS
from llmpulse.probe.prompts import BUNDLED
from llmpulse.query import events
from llmpulse.query.filters import QueryError, Scope
from llmpulse.server.auth import KEY_COOKIE, current_project
from llmpulse.server.context import Platform, platform
from llmpulse.server.errors import ApiError
from llmpulse.web import pages

router = APIRouter(include_in_schema=False)
RANGES = {"15m": "-15m", "1h": "-1h", "24h": "-24h", "7d": "-7d", "30d": "-30d"}
REFRESH = ("off", "5s", "30s")
NAV = (
    ("/", "Overview"),
    ("/requests", "Requests"),
    ("/models", "Models"),
    ("/errors", "Errors"),
    ("/costs", "Costs"),
    ("/users", "Users & sessions"),
    ("/playground", "Playground"),
)
_PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
_STATIC = resources.files("llmpulse.web") / "static"
templates = Jinja2Templates(directory=str(resources.files("llmpulse.web") / "templates"))


def _metric(value: Any, unit: str) -> str:
    """A number as the dashboard shows it: 1,234 · 12.3% · 812 ms · $0.0123 · — for none."""
    if value is None:
        return "—"
    if unit == "%":
        return f"{value * 100:.1f}%"
    if unit == "ms":
        return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"
    if unit == "$":
        return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"
    return f"{value:,.0f}" if isinstance(value, int) or value >= 100 else f"{value:.1f}"


templates.env.filters["metric"] = _metric


def _fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


@dataclass(frozen=True)
class Asset:
    """A static file served at a content-hashed URL, so browsers may cache it forever."""

    name: str
    data: bytes
    media_type: str

    @property
    def url(self) -> str:
        stem, _, ext = self.name.rpartition(".")
        return f"/static/{stem}-{_fingerprint(self.data)}.{ext}"


ASSETS = {
    a.url: a
    for a in (
        Asset("plotly.min.js", _PLOTLY_JS.read_bytes(), "text/javascript"),
        Asset("app.js", (_STATIC / "app.js").read_bytes(), "text/javascript"),
        Asset("app.css", (_STATIC / "app.css").read_bytes(), "text/css"),
    )
}
ASSET_URLS = {a.name: url for url, a in ASSETS.items()}


@router.get("/static/{name}")
def static(name: str) -> Response:
    asset = ASSETS.get(f"/static/{name}")
    if asset is None:
        return Response("not found", 404)
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}
    return Response(asset.data, media_type=asset.media_type, headers=headers)


class LoginRequired(Exception):
    """No valid key in the cookie: the page answers with the login form."""


@dataclass
class View:
    """What every page shares: project, scope, controls, and the URL state."""

    request: Request
    project: str
    scope: Scope
    range: str
    refresh: str
    auth: bool
    error: str = ""  # a control that could not be used, shown above the page

    def url(self, path: str | None = None, **changes: Any) -> str:
        params = [(k, v) for k, v in self.request.query_params.multi_items() if k not in changes]
        params += [(k, v) for k, v in changes.items() if v is not None]
        query = urlencode(params)
        return (path or self.request.url.path) + (f"?{query}" if query else "")

    @property
    def filters(self) -> list[tuple[str, str]]:
        return [(k, v) for k, values in sorted(self.scope.filters.items()) for v in values]

    def without(self, name: str, value: str) -> str:
        params = [
            (k, v) for k, v in self.request.query_params.multi_items() if (k, v) != (name, value)
        ]
        return self.request.url.path + ("?" + urlencode(params) if params else "")


async def view(request: Request, ctx: Platform = Depends(platform)) -> View:
    try:
        project = await current_project(request, ctx)
    except ApiError:
        raise LoginRequired from None
    q = request.query_params
    chosen = q.get("range", "24h")
    if chosen == "custom":
        start, end = q.get("from") or "-24h", q.get("to") or None
    else:
        chosen = chosen if chosen in RANGES else "24h"
        start, end = RANGES[chosen], None
    filters = {d: q.getlist(d) for d in DIMENSIONS}
    refresh = q.get("refresh", "off")
    error = ""
    try:
        scope = Scope.build(project, start, end, filters)
    except QueryError as exc:  # a bad custom range: say so, show the default range
        error = f"{exc}; showing the last 24 hours"
        scope = Scope.build(project, RANGES["24h"], None, filters)
    return View(request, project, scope, chosen, refresh if refresh in REFRESH else "off",
                not ctx.settings.no_auth, error)  # fmt: skip


async def render(
    name: str,
    v: View,
    ctx: Platform,
    build: Callable[..., dict[str, Any]],
    *args: Any,
    title: str,
) -> HTMLResponse:
    """Render a page from `build(engine, scope, *args)`; an empty project gets the
    onboarding page instead."""
    has_data = await run_in_threadpool(events.has_events, ctx.engine, v.project)
    data = await run_in_threadpool(build, ctx.engine, v.scope, *args) if has_data else {}
    context = {
        "v": v,
        "nav": NAV,
        "title": title,
        "dimensions": DIMENSIONS,
        "ranges": [*RANGES, "custom"],
        "refresh_options": REFRESH,
        "assets": ASSET_URLS,
        "updated": datetime.now(UTC).strftime("%H:%M:%S UTC"),
        "data": data,
        "base_url": str(v.request.base_url).rstrip("/"),
        # Inside <script>: "</" would end it early (a model named "</script>..." is data).
        "figures_json": orjson.dumps(data.get("charts", {})).decode().replace("</", "<\\/"),
    }
    return templates.TemplateResponse(v.request, name if has_data else "empty.html", context)


@router.get("/", response_class=HTMLResponse)
async def overview(v: View = Depends(view), ctx: Platform = Depends(platform)) -> HTMLResponse:
    return await render("overview.html", v, ctx, pages.overview, title="Overview")


@router.get("/requests", response_class=HTMLResponse)
async def requests_page(v: View = Depends(view), ctx: Platform = Depends(platform)) -> HTMLResponse:
    q = v.request.query_params.get("q") or None
    return await render(
        "requests.html", v, ctx, lambda e, s: events.list_requests(e, s, 100, None, q),
        title="Requests",
    )  # fmt: skip


@router.get("/models", response_class=HTMLResponse)
async def models_page(v: View = Depends(view), ctx: Platform = Depends(platform)) -> HTMLResponse:
    chosen = v.request.query_params.getlist("compare")
    return await render("models.html", v, ctx, pages.models_page, chosen, title="Models")


@router.get("/errors", response_class=HTMLResponse)
async def errors_page(v: View = Depends(view), ctx: Platform = Depends(platform)) -> HTMLResponse:
    return await render("errors.html", v, ctx, pages.errors_page, title="Errors")


@router.get("/costs", response_class=HTMLResponse)
async def costs_page(v: View = Depends(view), ctx: Platform = Depends(platform)) -> HTMLResponse:
    return await render("costs.html", v, ctx, pages.costs_page, title="Costs")


@router.get("/users", response_class=HTMLResponse)
async def users_page(v: View = Depends(view), ctx: Platform = Depends(platform)) -> HTMLResponse:
    return await render("users.html", v, ctx, pages.users_page, title="Users & sessions")


@router.get("/playground", response_class=HTMLResponse)
async def playground_page(
    v: View = Depends(view), ctx: Platform = Depends(platform)
) -> HTMLResponse:
    """Not through `render`: the playground works in an empty project too."""
    context = {
        "v": v,
        "nav": NAV,
        "title": "Playground",
        "assets": ASSET_URLS,
        "updated": datetime.now(UTC).strftime("%H:%M:%S UTC"),
        "endpoints": list(ctx.settings.llm_endpoints()),
        "prompt_sets": list(BUNDLED),
    }
    return templates.TemplateResponse(v.request, "playground.html", context)


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(
    session_id: str, v: View = Depends(view), ctx: Platform = Depends(platform)
) -> HTMLResponse:
    return await render(
        "session.html", v, ctx, pages.session_page, session_id, title=f"Session {session_id}"
    )


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/", error: str = "") -> HTMLResponse:
    context = {"next": _safe_next(next), "error": error, "assets": ASSET_URLS}
    return templates.TemplateResponse(request, "login.html", context)


@router.post("/login")
async def login(
    key: str = Form(""), next: str = Form("/"), ctx: Platform = Depends(platform)
) -> Response:
    target = _safe_next(next)
    project = await run_in_threadpool(ctx.keys.project_for, key.strip()) if key.strip() else None
    if project is None:
        message = (
            "That API key is not valid (unknown or revoked)."
            if key.strip()
            else ("Enter an API key.")
        )
        query = urlencode({"next": target, "error": message})
        return RedirectResponse(f"/login?{query}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        KEY_COOKIE, key.strip(), httponly=True, samesite="strict", max_age=30 * 86400
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(KEY_COOKIE, httponly=True, samesite="strict")
    return response


def _safe_next(target: str) -> str:
    """Only local paths: never redirect to another site after login."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def login_redirect(request: Request, _: Exception) -> Response:
    """The answer to a page request without a valid key: the login form, then back here."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": here}), status_code=303)

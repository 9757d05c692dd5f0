"""What every page shares: templates and their number formats, static assets at hashed
URLs, the view (project, range, filters, refresh, all in the URL) and the renderer."""

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
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from llmpulse.api.auth import GATE, Gate, caller
from llmpulse.api.errors import ApiError
from llmpulse.events.taxonomy import DIMENSIONS
from llmpulse.meta.keys import READ
from llmpulse.query import events
from llmpulse.query.filters import QueryError, Scope
from llmpulse.query.params import STORE
from llmpulse.store.engine import Engine

RANGES = {"15m": "-15m", "1h": "-1h", "24h": "-24h", "7d": "-7d", "30d": "-30d", "90d": "-90d"}
REFRESH = ("off", "5s", "30s")
NAV = (
    ("/", "Overview"),
    ("/requests", "Requests"),
    ("/models", "Models"),
    ("/errors", "Errors"),
    ("/costs", "Costs"),
    ("/users", "Users & sessions"),
    ("/experiments", "Experiments"),
    ("/retention", "Retention"),
    ("/funnels", "Funnels"),
    ("/adoption", "Sessions & adoption"),
    ("/drift", "Drift"),
    ("/quality", "Data quality"),
    ("/alerts", "Alerts"),
    ("/slos", "SLOs"),
    ("/social", "Social"),
    ("/logs", "Logs"),
    ("/playground", "Playground"),
    ("/project", "Project & data"),
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


def _count(value: Any) -> str:
    """A count with thousands separators: 1,234,567."""
    return "—" if value is None else f"{value:,}"


def _cost(usd: float | None, unpriced: int = 0, calls: int | None = None) -> str:
    """A cost as pages show it: never $0 for calls that have no price. All of `calls`
    unpriced: "unpriced (N calls)"; some: the priced cost, "excludes N unpriced calls"."""
    if unpriced and calls is not None and unpriced >= calls:
        return f"unpriced ({_calls(unpriced)})"
    text = _metric(usd, "$")
    return f"{text} (excludes {_calls(unpriced)} unpriced)" if unpriced else text


def _calls(n: int) -> str:
    return f"{n:,} call" + ("" if n == 1 else "s")


def _epoch(seconds: float | None) -> str:
    """Epoch seconds as the pages show times: 2026-12-05 21:30:04 UTC."""
    if seconds is None:
        return "—"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


templates.env.filters["metric"] = _metric
templates.env.filters["epoch"] = _epoch
templates.env.filters["count"] = _count
templates.env.globals["cost"] = _cost


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
assets_router = APIRouter(include_in_schema=False)


@assets_router.get("/static/{name}")
def static(name: str) -> Response:
    asset = ASSETS.get(f"/static/{name}")
    if asset is None:
        return Response("not found", 404)
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}
    return Response(asset.data, media_type=asset.media_type, headers=headers)


class LoginRequired(Exception):
    """No valid key in the cookie: the page answers with the login form."""


def login_redirect(request: Request, _: Exception) -> Response:
    """The answer to a page request without a valid key: the login form, then back here."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": here}), status_code=303)


@dataclass
class View:
    """What every page shares: project, scope, controls, and the URL state."""

    request: Request
    project: str
    scope: Scope
    range: str
    refresh: str
    auth: bool  # a key is needed (not --no-auth): the page offers to log out
    scopes: frozenset[str]
    engine: Engine
    error: str = ""  # a control that could not be used, shown above the page

    def url(self, path: str | None = None, **changes: Any) -> str:
        params = [(k, v) for k, v in self.request.query_params.multi_items() if k not in changes]
        params += [(k, v) for k, v in changes.items() if v is not None]
        query = urlencode(params)
        return (path or self.request.url.path) + (f"?{query}" if query else "")

    def export_url(self, path: str = "/v1/export/events", **params: str) -> str:
        """An export of the page's range and filters: every row, not the page's first."""
        fixed = [("from", self.scope.start.isoformat()), ("to", self.scope.end.isoformat())]
        return f"{path}?{urlencode([*fixed, *self.filters, *params.items()])}"

    @property
    def filters(self) -> list[tuple[str, str]]:
        return [(k, v) for k, values in sorted(self.scope.filters.items()) for v in values]

    def without(self, name: str, value: str) -> str:
        params = [
            (k, v) for k, v in self.request.query_params.multi_items() if (k, v) != (name, value)
        ]
        return self.request.url.path + ("?" + urlencode(params) if params else "")


async def view(
    request: Request, engine: Engine = Depends(STORE), gate: Gate = Depends(GATE)
) -> View:
    """The page's view, for a key with the read scope; the login form otherwise."""
    try:
        grant = await caller(request, gate)
    except ApiError:
        raise LoginRequired from None
    if READ not in grant.scopes:
        raise LoginRequired
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
        scope = Scope.build(grant.project, start, end, filters)
    except QueryError as exc:  # a bad custom range: say so, show the default range
        error = f"{exc}; showing the last 24 hours"
        scope = Scope.build(grant.project, RANGES["24h"], None, filters)
    return View(request, grant.project, scope, chosen, refresh if refresh in REFRESH else "off",
                not gate.no_auth, grant.scopes, engine, error)  # fmt: skip


def page_context(v: View, title: str, **extra: Any) -> dict[str, Any]:
    """The template context every page has (navigation, assets, the view), plus `extra`."""
    return {
        "v": v,
        "nav": NAV,
        "title": title,
        "dimensions": DIMENSIONS,
        "ranges": [*RANGES, "custom"],
        "refresh_options": REFRESH,
        "assets": ASSET_URLS,
        "updated": datetime.now(UTC).strftime("%H:%M:%S UTC"),
        "base_url": str(v.request.base_url).rstrip("/"),
        **extra,
    }


async def render(
    name: str, v: View, build: Callable[..., dict[str, Any]], *args: Any, title: str
) -> HTMLResponse:
    """Render a page from `build(engine, scope, *args)`; an empty project gets the
    onboarding page instead."""
    has_data = await run_in_threadpool(events.has_events, v.engine, v.project)
    data = await run_in_threadpool(build, v.engine, v.scope, *args) if has_data else {}
    # Inside <script>: "</" would end it early (a model named "</script>..." is data).
    figures = orjson.dumps(data.get("charts", {})).decode().replace("</", "<\\/")
    context = page_context(v, title, data=data, figures_json=figures)
    return templates.TemplateResponse(v.request, name if has_data else "empty.html", context)

"""The HTTP side of every read: the store, the caller's project, the time range and the
dimension filters, as FastAPI dependencies shared by the query API, analytics and pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from llmpulse.api.auth import Reader
from llmpulse.api.services import Service
from llmpulse.events.taxonomy import DIMENSIONS
from llmpulse.query.filters import QueryError, Scope
from llmpulse.store.engine import Engine

STORE: Service[Engine] = Service("store")
Store = Annotated[Engine, Depends(STORE)]

From = Annotated[
    str | None, Query(alias="from", description="ISO 8601 or relative (-1h, -7d); default -24h")
]
To = Annotated[str | None, Query(description="ISO 8601 or relative; default now")]
GroupBy = Annotated[
    str | None, Query(description=f"comma-separated dimensions: {', '.join(DIMENSIONS)}")
]


def scope(request: Request, reader: Reader, start: From = None, to: To = None) -> Scope:
    """The project, time range and dimension filters (`?model_id=a&model_id=b&status=error`)."""
    return _scope(request, reader, start, to, "-24h")


def window(request: Request, reader: Reader, start: From = None, to: To = None) -> Scope:
    """The project and time range, for tables other than the LLM calls' (posts, logs,
    custom metrics): the call dimensions are not filters there."""
    return _scope(request, reader, start, to, "-24h", dimensions=False)


def _scope(request: Request, reader: Reader, start: str | None, to: str | None,
           default_start: str, dimensions: bool = True) -> Scope:  # fmt: skip
    known = (set(DIMENSIONS) if dimensions else set()) | _route_params(request)
    for name in request.query_params:
        if name not in known:
            raise QueryError(name, "unknown query parameter")
    filters = {d: request.query_params.getlist(d) for d in DIMENSIONS} if dimensions else {}
    return Scope.build(reader.project, start, to, filters, default_start)


Since30d = Annotated[
    str | None, Query(alias="from", description="ISO 8601 or relative (-7d); default -30d")
]


Since90d = Annotated[
    str | None, Query(alias="from", description="ISO 8601 or relative (-30d); default -90d")
]


def month_scope(request: Request, reader: Reader, start: Since30d = None, to: To = None) -> Scope:
    """Like `scope`, over the last 30 days by default: for cost advice."""
    return _scope(request, reader, start, to, "-30d")


def quarter_scope(request: Request, reader: Reader, start: Since90d = None, to: To = None) -> Scope:
    """Like `scope`, over the last 90 days by default: the history of forecasts."""
    return _scope(request, reader, start, to, "-90d")


def _route_params(request: Request) -> set[str]:
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    names: set[str] = set()
    stack = [dependant] if dependant else []
    while stack:
        dep = stack.pop()
        names.update(p.alias for p in dep.query_params)
        stack.extend(dep.dependencies)
    return names


Scoped = Annotated[Scope, Depends(scope)]
Windowed = Annotated[Scope, Depends(window)]
MonthScoped = Annotated[Scope, Depends(month_scope)]
QuarterScoped = Annotated[Scope, Depends(quarter_scope)]

"""The objects routes work with (the store, the ingest pipeline, ...), handed to them by
the app factory.

A capability declares a typed `Service` for each object it needs and uses it as a FastAPI
dependency; `server/` binds every service to its object when it builds the app. So routes
live beside their capability and never import the app that mounts them.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

from fastapi import FastAPI, Request

T = TypeVar("T")


class Service(Generic[T]):
    """A named dependency: `Annotated[Engine, Depends(STORE)]` in a route's signature."""

    def __init__(self, name: str) -> None:
        self.name = name

    def bind(self, value: T) -> tuple[Service[T], T]:
        """(this service, its object), for `install_services`."""
        return self, value

    async def __call__(self, request: Request) -> T:
        """Async: a dict lookup, not worth a thread-pool hop."""
        return cast(T, request.app.state.services[self])

    def __repr__(self) -> str:
        return f"Service({self.name!r})"


def install_services(app: FastAPI, *bound: tuple[Service[Any], Any]) -> None:
    app.state.services = dict(bound)

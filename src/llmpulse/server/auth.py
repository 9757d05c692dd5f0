"""API key -> the project every read and write belongs to.

The key comes in `Authorization: Bearer KEY` (API clients) or, for the dashboard, in the
HttpOnly, SameSite=Strict cookie set by the login form.
"""

from __future__ import annotations

from fastapi import Depends, Request

from llmpulse.server.context import NO_AUTH_PROJECT, Platform, platform
from llmpulse.server.errors import ApiError

KEY_COOKIE = "llmpulse_key"


async def current_project(request: Request, ctx: Platform = Depends(platform)) -> str:
    """The key's project. Async on purpose: the key check is a few microseconds of SQLite,
    cheaper inline than a hop to the thread pool on every request."""
    if ctx.settings.no_auth:
        return NO_AUTH_PROJECT
    header = request.headers.get("authorization", "")
    if not header:
        cookie = request.cookies.get(KEY_COOKIE)
        if not cookie:
            raise ApiError(401, "missing API key: send 'Authorization: Bearer KEY'")
        key = cookie
    else:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "malformed Authorization header: expected 'Bearer KEY'")
    project = ctx.keys.project_for(key.strip())
    if project is None:
        raise ApiError(401, "unknown or revoked API key")
    return project

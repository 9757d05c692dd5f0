"""API key -> who is calling: the project every read and write belongs to, and the key's
scopes. A route names the scope it needs with `Depends(require(READ))`.

The key comes in `Authorization: Bearer KEY` (API clients) or, for the dashboard, in the
HttpOnly, SameSite=Strict cookie set by the login form.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated

from fastapi import Depends, Request

from llmpulse.api.errors import ApiError
from llmpulse.api.services import Service
from llmpulse.meta.keys import ADMIN, ALL_SCOPES, READ, Grant, KeyStore

KEY_COOKIE = "llmpulse_key"
NO_AUTH_PROJECT = "default"


@dataclass(frozen=True)
class Gate:
    """How keys are checked: the key store, or nothing at all under --no-auth."""

    keys: KeyStore
    no_auth: bool = False

    def grant(self, key: str) -> Grant | None:
        """What the key may do, or None for an unknown or revoked key."""
        if self.no_auth:
            return Grant(NO_AUTH_PROJECT, ALL_SCOPES)
        return self.keys.grant_for(key.strip()) if key.strip() else None


GATE: Service[Gate] = Service("gate")


def presented_key(request: Request) -> str | None:
    """The key the request carries (header first, then the login cookie), or None.
    Raises 401 for an Authorization header that is not `Bearer KEY`."""
    header = request.headers.get("authorization", "")
    if not header:
        return request.cookies.get(KEY_COOKIE) or None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "malformed Authorization header: expected 'Bearer KEY'")
    return key.strip()


def optional_grant(gate: Gate, request: Request) -> Grant | None:
    """The grant of the request's key if it carries a valid one, else None (for routes
    anyone may call that show more to a key)."""
    try:
        key = presented_key(request)
    except ApiError:
        return None
    if key is None and not gate.no_auth:
        return None
    return gate.grant(key or "")


async def caller(request: Request, gate: Gate = Depends(GATE)) -> Grant:
    """The grant of the request's key; 401 without a valid one. Async on purpose: the key
    check is a few microseconds of SQLite, cheaper inline than a thread-pool hop."""
    if gate.no_auth:
        return Grant(NO_AUTH_PROJECT, ALL_SCOPES)
    key = presented_key(request)
    if key is None:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer KEY'")
    grant = gate.grant(key)
    if grant is None:
        raise ApiError(401, "unknown or revoked API key")
    return grant


@cache  # one dependency per scope: FastAPI then checks it once per request
def require(scope: str) -> Callable[..., Awaitable[Grant]]:
    """A dependency: the caller's grant, or 403 when the key lacks `scope`."""

    async def dependency(grant: Grant = Depends(caller)) -> Grant:
        if scope not in grant.scopes:
            have = ", ".join(sorted(grant.scopes)) or "none"
            raise ApiError(
                403,
                f"this API key lacks the '{scope}' scope (it has: {have}); "
                f"create one with `llmpulse keys create --scope {scope}`",
                [{"field": "scope", "error": f"'{scope}' required"}],
            )
        return grant

    dependency.__name__ = f"require_{scope}"
    return dependency


# A route's caller, with the scope it needs.
Reader = Annotated[Grant, Depends(require(READ))]
Admin = Annotated[Grant, Depends(require(ADMIN))]

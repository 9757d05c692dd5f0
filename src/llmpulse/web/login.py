"""Log in with an API key (kept in an HttpOnly, SameSite=Strict cookie) and log out."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from llmpulse.api.auth import GATE, KEY_COOKIE, Gate
from llmpulse.meta.keys import READ
from llmpulse.web.layout import ASSET_URLS, templates

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/", error: str = "") -> HTMLResponse:
    context = {"next": _safe_next(next), "error": error, "assets": ASSET_URLS}
    return templates.TemplateResponse(request, "login.html", context)


@router.post("/login")
async def login(key: str = Form(""), next: str = Form("/"), gate: Gate = Depends(GATE)) -> Response:
    target = _safe_next(next)
    grant = await run_in_threadpool(gate.grant, key)
    if grant is None or READ not in grant.scopes:
        if not key.strip():
            message = "Enter an API key."
        elif grant is None:
            message = "That API key is not valid (unknown or revoked)."
        else:
            message = "That API key cannot read data (it lacks the 'read' scope)."
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

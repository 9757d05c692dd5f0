"""Errors as JSON `{"error": "...", "detail": [...]}` with the right status, never a trace.

Routes and the logic under them raise `ApiError` (or `FieldError`, which names the field
at fault); the handlers here turn every exception into that body. Unexpected exceptions
are logged with a reference the client gets, and nothing of their text reaches it.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from llmpulse.api.responses import JsonResponse

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        detail: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail or []
        self.headers = headers or {}


class FieldError(ApiError):
    """One field of the request (a parameter, a header, the body) is at fault."""

    def __init__(
        self,
        status: int,
        field: str,
        message: str,
        error: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            status, error or f"{field}: {message}", [{"field": field, "error": message}], headers
        )
        self.field = field
        self.message = message


class Problem(BaseModel):
    field: str | None = None
    error: str


class ErrorBody(BaseModel):
    """Every error answer has this shape."""

    error: str
    detail: list[Problem]


_DESCRIPTIONS = {
    400: "The request is malformed or a parameter is invalid; `detail` names it",
    401: "No API key, or an unknown or revoked one",
    403: "The key lacks the scope this needs; the error names it",
    404: "Not found in this project",
    409: "Conflicts with the current state",
    413: "The body is too large",
    415: "Unsupported Content-Type or Content-Encoding",
    422: "A parameter is out of its accepted range; the error gives the range",
    429: "Too many requests; retry after the time given",
    503: "Temporarily unable to answer (store or spool); retry, see Retry-After",
    507: "The server is out of disk space; nothing was acknowledged; retry later",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can answer."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


def error_response(
    status: int,
    error: str,
    detail: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    return JsonResponse({"error": error, "detail": detail or []}, status, headers=headers or None)


def internal_error(what: str, exc: BaseException, status: int = 500) -> JsonResponse:
    """Log `exc` under a reference and answer with the reference only: the text of an
    internal error (a store's exception, a path) is not the client's business."""
    ref = secrets.token_hex(4)
    log.error("%s (ref %s): %s", what, ref, exc, exc_info=exc if status == 500 else None)
    headers = {"Retry-After": "1"} if status == 503 else None
    return error_response(status, f"{what}; see the server log, ref {ref}", headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JsonResponse:
        headers = dict(exc.headers)
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return error_response(exc.status, exc.error, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JsonResponse:
        detail = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), "error": e["msg"]}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{d['field']}: {d['error']}" for d in detail)
        return error_response(400, f"invalid request: {summary}", detail)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JsonResponse:
        return error_response(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JsonResponse:
        return internal_error("internal error", exc)

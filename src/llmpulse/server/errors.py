"""Errors as JSON `{"error": "...", "detail": [...]}` with the right status, never a trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from llmpulse.ingest.body import BodyError
from llmpulse.query.filters import QueryError
from llmpulse.server.responses import JsonResponse
from llmpulse.store.engine import StoreError

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: list[dict[str, Any]] | None = None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail or []


def error_response(
    status: int, error: str, detail: list[dict[str, Any]] | None = None, **headers: str
) -> JsonResponse:
    return JsonResponse({"error": error, "detail": detail or []}, status, headers=headers or None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JsonResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        return error_response(exc.status, exc.error, exc.detail, **headers)

    @app.exception_handler(BodyError)
    async def _body(_: Request, exc: BodyError) -> JsonResponse:
        return error_response(exc.status, exc.message, [{"field": exc.field, "error": exc.message}])

    @app.exception_handler(QueryError)
    async def _query(_: Request, exc: QueryError) -> JsonResponse:
        return error_response(400, str(exc), [{"field": exc.param, "error": exc.message}])

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
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(StoreError)
    async def _store(_: Request, exc: StoreError) -> JsonResponse:
        log.error("store error: %s", exc)
        return error_response(503, "the store could not answer; try again", [{"error": str(exc)}])

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JsonResponse:
        log.exception("unhandled error")
        return error_response(500, "internal error; see the server log")

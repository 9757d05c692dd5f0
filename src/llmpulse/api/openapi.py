"""The OpenAPI document, true to what the server answers: routes declare their answers'
shapes with `answers`; FastAPI's own 422 entries (its validation body, on every route with
parameters) go, since our handler answers 400 with the common error body (api/errors.py);
422s the routes declare stay."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from llmpulse.api.errors import error_responses
from llmpulse.api.formats import FILE_CONTENT

_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


def answers(model: Any, *errors: int, status: int = 200, tabular: bool = False) -> dict[str, Any]:
    """Route arguments documenting its answer `model` (a pydantic model, not checked at
    run time: answers are built as plain data) and the error statuses it can give besides
    its router's. `tabular`: with `format=`, the answer's rows as a file too."""
    answer: dict[str, Any] = {"model": model}
    if tabular:
        answer["content"] = FILE_CONTENT
    return {
        "response_model": None,
        "status_code": status,
        "responses": {status: answer, **error_responses(*errors)},
    }


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    unprocessable = operation.get("responses", {}).get("422", {})
                    if _FASTAPI_VALIDATION in str(unprocessable):
                        del operation["responses"]["422"]
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

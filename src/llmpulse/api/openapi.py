"""The OpenAPI document as the server really answers: FastAPI lists a 422 with its own
validation body on every route with parameters, where our handler answers 400 with the
common error body (api/errors.py). Those entries go; 422s the routes declare stay."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


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

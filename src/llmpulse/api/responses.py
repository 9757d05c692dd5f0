"""JSON responses rendered by orjson (fast, and handles the store's floats and dates)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class JsonResponse(JSONResponse):
    """A JSONResponse (so the OpenAPI document knows its answers are JSON) rendered by
    orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def answers(model: Any, *errors: int, status: int = 200) -> dict[str, Any]:
    """Route arguments documenting its answer `model` (a pydantic model, not checked at
    run time: answers are built as plain data) and the error statuses it can give besides
    its router's."""
    from llmpulse.api.errors import error_responses  # errors renders with JsonResponse

    return {
        "response_model": None,
        "status_code": status,
        "responses": {status: {"model": model}, **error_responses(*errors)},
    }

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

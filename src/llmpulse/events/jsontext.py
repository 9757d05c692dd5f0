"""JSON text of any value a client sent, for storing it as text: never raises."""

from __future__ import annotations

import json
from typing import Any

import orjson


def json_text(value: Any) -> str:
    """orjson's text; the standard library's where orjson refuses (integers beyond 64 bits,
    nesting deeper than 255 levels); `repr` beyond even that."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        pass
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return repr(value)

"""Opaque page cursors: the position after the last row returned, as URL-safe text."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from llmpulse.api.errors import FieldError


def encode_cursor(position: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(cursor: str, length: int, param: str = "cursor") -> list[Any]:
    """The position a cursor of `length` values encodes; 400 for anything else."""
    try:
        position = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        position = None
    if not isinstance(position, list) or len(position) != length:
        raise FieldError(400, param, "not a cursor returned by this API")
    return position

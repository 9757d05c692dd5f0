"""Render query parameters in ClickHouse's text format, for engines that take them as text."""

from collections.abc import Sequence
from datetime import UTC, datetime

from llmpulse.store.engine import Param

_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\t": "\\t", "\n": "\\n"})
_SPECIAL = ("\\", "'", "\t", "\n")


def string_literal(value: str) -> str:
    """A ClickHouse string literal, for the few places that take no parameter (INFILE)."""
    return "'" + value.translate(_ESCAPES) + "'"


def param_text(value: Param) -> str:
    """The text ClickHouse parses for `{name:Type}`: escaped scalars, quoted array elements."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, Sequence):
        if all(isinstance(v, str) for v in value):
            joined = "','".join(value)  # type: ignore[arg-type]
            if any(c in joined for c in _SPECIAL):  # rare: escape element by element
                joined = "','".join(v.translate(_ESCAPES) for v in value)  # type: ignore[union-attr]
            return "['" + joined + "']"
        return "[" + ",".join(repr(v) for v in value) + "]"
    return repr(value)

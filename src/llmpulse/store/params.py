"""Render query parameters in ClickHouse's text format, for engines that take them as text."""

from collections.abc import Sequence
from datetime import UTC, datetime

from llmpulse.store.engine import Param

_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\t": "\\t", "\n": "\\n"})


def _quoted(value: str | int | float) -> str:
    if isinstance(value, str):
        return "'" + value.translate(_ESCAPES) + "'"
    return repr(value)


def param_text(value: Param) -> str:
    """The text ClickHouse parses for `{name:Type}`: escaped scalars, quoted array elements."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, Sequence):
        return "[" + ",".join(_quoted(v) for v in value) + "]"
    return repr(value)

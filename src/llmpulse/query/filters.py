"""What every query shares: the project, a time range, and filters on dimensions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from llmpulse.api.errors import FieldError
from llmpulse.events.taxonomy import DIMENSIONS
from llmpulse.store.engine import Param

_RELATIVE = re.compile(r"-(\d+)(s|m|h|d|w)")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Times the store can hold (the rollups' DateTime ends in 2106): a bound outside is a 422.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_RANGE = f"between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"
# Stored as '' when the event had none (LowCardinality columns are not Nullable); the API
# answers null: "no error" is not an error type, "no finish reason" is not a reason.
NULL_WHEN_EMPTY = frozenset({"error_type", "finish_reason"})


class QueryError(FieldError):
    """A query parameter that cannot be used: names the parameter and the reason."""

    def __init__(self, param: str, message: str, status: int = 400) -> None:
        super().__init__(status, param, message)
        self.param = param


def parse_time(value: str, param: str, now: datetime) -> datetime:
    """ISO 8601 (naive means UTC), `now`, or relative to now like `-15m`, `-1h`, `-7d`;
    between EARLIEST and LATEST."""
    value = value.strip()
    if value == "now":
        return now
    match = _RELATIVE.fullmatch(value)
    try:
        if match:
            # Through seconds: timedelta(days=huge) overflows before the range check.
            seconds = int(match[1]) * timedelta(**{_UNITS[match[2]]: 1}).total_seconds()
            if seconds > (now - EARLIEST).total_seconds():
                raise OverflowError
            parsed = now - timedelta(seconds=seconds)
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError as exc:
        raise QueryError(
            param, f"{value!r} is not a time: use ISO 8601 or a relative time like -1h, -7d"
        ) from exc
    except OverflowError:
        parsed = EARLIEST - timedelta(seconds=1)
    if not EARLIEST <= parsed <= LATEST:
        raise QueryError(param, f"{value!r} is out of range: times must be {_RANGE}", 422)
    return parsed


def split_dimensions(value: str | None, param: str) -> list[str]:
    """A comma-separated list of dimension names, each checked."""
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    for name in names:
        if name not in DIMENSIONS:
            raise QueryError(param, f"unknown dimension {name!r}; one of: {', '.join(DIMENSIONS)}")
    return names


@dataclass(frozen=True)
class Scope:
    """Rows of one project in [start, end), narrowed by dimension filters."""

    project: str
    start: datetime
    end: datetime
    filters: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        project: str,
        start: str | None,
        end: str | None,
        filters: Mapping[str, Sequence[str]],
        default_start: str = "-24h",
    ) -> Scope:
        now = datetime.now(UTC)
        begin = parse_time(start or default_start, "from", now)
        finish = parse_time(end or "now", "to", now)
        if begin >= finish:
            raise QueryError("from", "must be before 'to'")
        chosen = {k: list(v) for k, v in filters.items() if k in DIMENSIONS and v}
        return cls(project, begin, finish, chosen)

    def where(self, time_column: str = "ts", prefix: str = "") -> tuple[str, dict[str, Param]]:
        """A WHERE clause (without the keyword) and its parameters, named with `prefix` so
        two scopes can share one query."""
        start, end = f"{prefix}start", f"{prefix}end"
        clauses = [
            "project = {project:String}",
            f"{time_column} >= {{{start}:DateTime64(3, 'UTC')}}",
            f"{time_column} < {{{end}:DateTime64(3, 'UTC')}}",
        ]
        params: dict[str, Param] = {"project": self.project, start: self.start, end: self.end}
        for name, values in sorted(self.filters.items()):
            clauses.append(f"{name} IN {{f_{name}:Array(String)}}")
            params[f"f_{name}"] = values
        return " AND ".join(clauses), params


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with a Z, the API's time format."""
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def api_values(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with the API's nulls for the columns in NULL_WHEN_EMPTY (changed in place)."""
    for column in NULL_WHEN_EMPTY.intersection(row):
        if row[column] == "":
            row[column] = None
    return row

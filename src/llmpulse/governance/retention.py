"""A project's retention: kept in the store's documents, enforced as TTL (store/retention.py)."""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmpulse.store.documents import Documents
from llmpulse.store.engine import Engine
from llmpulse.store.retention import CLASSES, Periods, apply_retention

KIND: Final = "retention"
_DAYS = re.compile(r"(\d{1,5})d")
MAX_DAYS: Final = 36_500
FORM: Final = "a number of days like 30d (1d to 36500d)"


def parse_days(value: str) -> int:
    """`30d` -> 30; ValueError naming the accepted form otherwise."""
    match = _DAYS.fullmatch(value.strip())
    if not match or not 1 <= int(match[1]) <= MAX_DAYS:
        raise ValueError(f"{value!r} is not a retention: use {FORM}")
    return int(match[1])


class RetentionBody(BaseModel):
    """Periods as `30d`; a class left out keeps the server's default (--retention-days)."""

    model_config = ConfigDict(extra="forbid")
    raw: str | None = Field(None, description="calls, spans, scores", examples=["30d"])
    rollups: str | None = Field(None, description="hourly aggregates, alert history")
    rejected: str | None = Field(None, description="dead letters")

    @field_validator("raw", "rollups", "rejected")
    @classmethod
    def _days(cls, value: str | None) -> str | None:
        if value is not None:
            parse_days(value)
        return value

    def periods(self) -> Periods:
        return Periods(*(parse_days(v) if v else None for v in (self.raw, self.rollups,
                                                               self.rejected)))  # fmt: skip


def _documents(engine: Engine) -> Documents:
    return Documents(engine, KIND)


def all_periods(engine: Engine) -> dict[str, Periods]:
    return {d.project: Periods(**d.body) for d in _documents(engine).list()}


def described(periods: Periods | None, default_days: int) -> dict[str, Any]:
    """Each class's days and whether it is the project's own or the default."""
    out: dict[str, Any] = {}
    for kind in CLASSES:
        days = periods.days(kind) if periods else None
        out[kind] = {"days": days or default_days, "source": "project" if days else "default"}
    return out


def save(engine: Engine, project: str, periods: Periods, default_days: int) -> None:
    """Record the project's periods and re-set every table's TTL (existing rows included)."""
    _documents(engine).put(project, "retention", periods.__dict__)
    projects = all_periods(engine)
    projects[project] = periods
    apply_retention(engine, default_days, projects)


def apply_saved(engine: Engine, default_days: int) -> None:
    """At start: the server's default and every project's own periods."""
    apply_retention(engine, default_days, all_periods(engine))

"""A score as clients send it, checked: what it judges (an event or a trace), its name,
value and type, and who gave it."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from llmpulse.api.bodies import Problem
from llmpulse.events.normalize import canonical_event_id
from llmpulse.events.schema import MAX_ID_CHARS
from llmpulse.query.filters import EARLIEST, LATEST
from llmpulse.query.scores import SCORE_NAME

DataType = Literal["numeric", "boolean", "categorical"]
Source = Literal["user", "annotator", "eval"]
MAX_SCORES: Final = 1000
MAX_CATEGORY = 200


class Score(BaseModel):
    """One score (docs/analytics.md#scores)."""

    model_config = ConfigDict(extra="forbid")

    score_id: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        None, description="yours, to correct a score later; posting it again replaces it"
    )
    event_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)] | None = Field(
        None, description="the call judged: its event_id as sent"
    )
    trace_id: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="or the whole trace"
    )
    name: str = Field(
        description="letters, digits, _ . -; 1 to 100",
        json_schema_extra={"pattern": f"^{SCORE_NAME.pattern}$"},
    )
    value: StrictBool | StrictInt | StrictFloat | StrictStr
    data_type: DataType | None = Field(None, description="default: from the value's JSON type")
    source: Source = "user"
    comment: str = Field("", max_length=2000)
    ts: datetime | None = Field(None, description="when it was given; default now")

    @field_validator("event_id")
    @classmethod
    def _event_id(cls, value: str | None) -> str | None:
        """As events store it: a client's non-UUID id becomes the same UUIDv5."""
        return None if value is None else canonical_event_id(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SCORE_NAME.fullmatch(value):
            raise ValueError("1 to 100 letters, digits, '_', '.' or '-'")
        return value

    @field_validator("ts")
    @classmethod
    def _ts(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        if not EARLIEST <= value <= LATEST:
            raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Score:
        if self.event_id is None and self.trace_id is None:
            raise Problem("event_id", "give the event_id or the trace_id the score is for")
        inferred: DataType = (
            "boolean"
            if isinstance(self.value, bool)
            else "categorical"
            if isinstance(self.value, str)
            else "numeric"
        )
        self.data_type = self.data_type or inferred
        check_value(self.data_type, self.value, self.name)
        return self

    def row(self, project: str, score_id: str, received: datetime) -> dict[str, object]:
        """The stored row (store/migrations/008_scores.sql)."""
        categorical = self.data_type == "categorical"
        return {
            "project": project,
            "score_id": score_id,
            "ts": _ms(self.ts or received),
            "received_at": _ms(received),
            "event_id": self.event_id or "",
            "trace_id": self.trace_id or "",
            "name": self.name,
            "data_type": self.data_type,
            "value": None if categorical else float(self.value),
            "category": str(self.value) if categorical else "",
            "source": self.source,
            "comment": self.comment,
        }


def check_value(data_type: str, value: object, name: str) -> None:
    """Raises Problem("value") when `value` is not one of a `data_type` score."""
    if data_type == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Problem("value", f"{name!r} is a numeric score: {value!r} is not a number")
        if not math.isfinite(value):
            raise Problem("value", "must be a finite number")
    elif data_type == "boolean" and not isinstance(value, bool):
        raise Problem("value", f"{name!r} is a boolean score: give true or false")
    elif data_type == "categorical" and (
        not isinstance(value, str) or not 0 < len(value) <= MAX_CATEGORY
    ):
        raise Problem("value", f"{name!r} is a categorical score: give a label (a string)")


def _ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

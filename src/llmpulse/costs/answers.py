"""The shapes of the cost API's answers, for its OpenAPI document (answers are built as
plain data; tests/test_api_schema.py holds them to these)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Override(BaseModel):
    id: str
    model: str = Field(description="model_id or glob")
    from_: str | None = Field(alias="from", description="null: all history")
    input: float = Field(description="USD per million tokens")
    output: float
    cached: float
    reasoning: float


class Overrides(BaseModel):
    overrides: list[Override]


class RecostJob(BaseModel):
    id: str
    project: str
    from_: str = Field(alias="from")
    to: str | None
    state: str = Field(description="queued, running, done or failed")
    changed: int = Field(description="calls whose cost or cost_source changed")
    cost_before: float = Field(description="USD of the changed calls before")
    cost_after: float
    progress: float = Field(description="0..1, of the stored parts rewritten")
    error: str | None
    queued_at: str
    finished_at: str | None


class OverrideSaved(BaseModel):
    override: Override
    warnings: list[str]
    recost: RecostJob


class OverrideDeleted(BaseModel):
    deleted: str
    recost: RecostJob


Json = dict[str, Any]

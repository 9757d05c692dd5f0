"""The shapes of the analytics API's answers, for its OpenAPI document (answers are built
as plain data; tests/test_api_schema.py holds them to these)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class VariantSeen(BaseModel):
    variant: str
    events: int
    users: int


class ExperimentSeen(BaseModel):
    name: str
    variants: list[VariantSeen]
    events: int
    first_seen: str
    last_seen: str


class Experiments(BaseModel):
    experiments: list[ExperimentSeen]


class MetricResult(BaseModel):
    value: float
    ci: list[float] = Field(description="[lower, upper] at the report's confidence")
    test: str
    diff: float | None = Field(None, description="variant minus control")
    diff_ci: list[float] | None = None
    relative: float | None = Field(None, description="diff over the control's value")
    relative_ci: list[float] | None = None
    p_value: float | None = None
    p_adjusted: float | None = Field(None, description="Holm, across every test shown")


class Verdict(BaseModel):
    verdict: str = Field(description="pass, marginal, fail or not_enough_data")
    reason: str | None = None
    score: float | None = None
    guardrails: dict[str, dict[str, Any]]


class VariantReport(BaseModel):
    variant: str
    control: bool
    events: int
    users: int
    metrics: dict[str, MetricResult]
    verdict: Verdict | None = Field(None, description="absent for the control")


class Srm(BaseModel):
    p_value: float | None
    mismatch: bool
    unit: str | None = None
    observed: dict[str, int]
    expected_shares: dict[str, float] | None = None
    banner: str | None = None


class ExperimentReport(BaseModel):
    experiment: str
    from_: str = Field(alias="from")
    to: str
    control: str
    method: str
    unit: str
    confidence: float
    notes: list[str]
    srm: Srm
    variants: list[VariantReport]
    verdict: str


class TimelinePoint(BaseModel):
    t: str
    verdict: str
    variants: dict[str, Verdict]
    srm: bool


class Timeline(BaseModel):
    experiment: str
    step: float = Field(description="seconds between points")
    points: list[TimelinePoint]

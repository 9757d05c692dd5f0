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


class Cohort(BaseModel):
    cohort: str = Field(description="the first day of the cohort's period")
    users: int
    retained: list[int] = Field(description="users active k periods after, k = 0, 1, ...")
    rates: list[float | None]
    d1: float | None = Field(description="share active on the day after their first")
    d7: float | None
    d30: float | None
    segment: str | None = None


class Retention(BaseModel):
    period: str
    group_by: str | None
    cohorts: list[Cohort]
    average: list[float | None] = Field(description="per k, over the cohorts that reached it")


class FunnelStep(BaseModel):
    step: str
    users: int
    conversion: float | None = Field(description="of the users at the first step")
    from_previous: float | None
    median_s_from_previous: float | None


class Funnel(BaseModel):
    window_s: int
    steps: list[FunnelStep]
    median_users_share: float = Field(
        description="the share of users (by a hash of the id) the median times are taken over: "
        "1 up to a million calls in the range, fewer above; the counts are always exact"
    )


class SessionPeriod(BaseModel):
    t: str
    sessions: int
    median_calls: float | None
    p90_calls: float | None
    median_minutes: float | None
    p90_minutes: float | None
    calls_per_session: float | None
    error_share: float | None
    active_users: int
    new_users: int
    returning_users: int
    churned_users: int = Field(description="active the period before and not in this one")
    previously_active: int | None


class ChurnPeriod(BaseModel):
    t: str
    churned_users: int
    previously_active: int
    churn_rate: float | None


class ChurnSegment(BaseModel):
    segment: str
    periods: list[ChurnPeriod]


class Sessions(BaseModel):
    period: str
    periods: list[SessionPeriod]
    group_by: str | None = None
    segments: list[ChurnSegment] | None = None


class AdoptionPeriod(BaseModel):
    t: str
    calls: int
    users: int
    new_users: int = Field(description="first use of the feature")
    returning_users: int


class FeatureAdoption(BaseModel):
    feature: str
    periods: list[AdoptionPeriod]


class Adoption(BaseModel):
    period: str
    features: list[FeatureAdoption]


# -- drift and data quality ---------------------------------------------------------------


class DriftSide(BaseModel):
    label: str
    from_: str = Field(alias="from")
    to: str
    experiment: str | None
    variant: str | None
    events: int
    sampled: int = Field(description="calls in the sample (about the sample size when more)")


class DriftPoint(BaseModel):
    t: str
    values: int
    score: float | None
    drifted: bool


class DriftSlice(BaseModel):
    dimension: str
    value: str | None
    share_of_shift: float | None = Field(description="of the distance, gone without the slice")
    reference_share: float
    current_share: float


class DriftColumn(BaseModel):
    column: str
    kind: str = Field(description="numeric or categorical")
    status: str = Field(description="ok, insufficient_data or no_data")
    reference_count: int
    current_count: int
    reference_sampled: int
    current_sampled: int
    test: str | None
    score_type: str | None = Field(description="p_value (drift below) or distance (at or above)")
    score: float | None
    threshold: float | None
    drifted: bool
    distribution: dict[str, list[Any]] | None = Field(
        None, description="edges or categories, and both sides' shares"
    )
    over_time: list[DriftPoint] | None = None
    slices: list[DriftSlice] | None = Field(None, description="for a drifted column")


class DriftReport(BaseModel):
    reference: DriftSide
    current: DriftSide
    sample: dict[str, Any]
    dataset_threshold: float
    status: str = Field(description="ok or insufficient_data")
    dataset_drift: bool
    tested_columns: int
    drifted_columns: int
    share_drifted: float | None
    columns: list[DriftColumn]


class Baseline(BaseModel):
    name: str
    window: str = Field(description="as given when saved")
    from_: str = Field(alias="from")
    to: str
    saved_at: str


class Baselines(BaseModel):
    baselines: list[Baseline]


class BaselineDeleted(BaseModel):
    deleted: str


class QualityCheck(BaseModel):
    name: str
    status: str = Field(description="pass or fail")
    score: float = Field(description="0 to 1")
    value: Any
    threshold: Any
    evidence: dict[str, Any]


class QualityModel(BaseModel):
    model_id: str
    provider: str | None
    events: int
    completeness: float | None
    newest: str
    unpriced_share: float | None


class QualityReport(BaseModel):
    from_: str = Field(alias="from")
    to: str
    events: int
    status: str = Field(description="pass, or fail when a check failed")
    failed: list[str]
    checks: list[QualityCheck]
    models: list[QualityModel]
    redactions: dict[str, int] = Field(
        description="[REDACTED:rule] marks per rule in the range's prompts and completions "
        "(server-side or SDK redaction)"
    )

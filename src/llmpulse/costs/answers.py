"""The shapes of the cost API's answers, for its OpenAPI document (answers are built as
plain data; tests/test_api_schema.py holds them to these)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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


class Interval(BaseModel):
    value: float
    ci: list[float] | None = Field(description="[lower, upper]; null with one day of data")


class Compared(BaseModel):
    value: float
    ci: list[float]
    test: str
    diff: float | None = None
    diff_ci: list[float] | None = None
    relative: float | None = None
    relative_ci: list[float] | None = None
    p_value: float | None = None


class Candidate(BaseModel):
    candidate: str
    calls: int = Field(description="the candidate's own calls in the group")
    verdict: str = Field(description="recommended or withheld")
    reasons: list[str] = Field(description="why withheld; empty when recommended")
    events: str = Field(description="the candidate's calls in the request log")
    cost_usd: float | None = Field(None, description="the current calls re-priced")
    saving_usd: float | None = None
    saving_share: float | None = None
    monthly_saving: Interval | None = None
    error_rate: Compared | None = None
    latency_p95: Compared | None = None
    score: Compared | None = None


class Recommended(Candidate):
    model_config = ConfigDict(extra="allow")
    model_id: str


class RecommendationGroup(BaseModel):
    model_config = ConfigDict(extra="allow")  # the grouping field: feature or prompt_version
    model_id: str
    calls: int
    error_rate: float
    cost_usd: float | None = Field(description="of its priced calls; null when none is")
    unpriced: int
    events: str
    candidates: list[Candidate]


class Recommendations(BaseModel):
    from_: str = Field(alias="from")
    to: str
    by: str
    days: int
    unpriced_candidates: list[str]
    recommended: list[Recommended]
    monthly_saving: float = Field(description="USD a month: the best candidate of each group")
    groups: list[RecommendationGroup]


class DaySpend(BaseModel):
    day: str
    spend: float


class DayForecast(DaySpend):
    ci80: list[float]
    ci95: list[float]


class Total(BaseModel):
    value: float
    ci80: list[float]
    ci95: list[float]


class ForecastGroup(BaseModel):
    model_config = ConfigDict(extra="allow")  # the group_by field, when grouped
    history: list[DaySpend]
    unpriced: int = Field(description="calls in the history with no price (not in spend)")
    method: str = Field(description="holt-winters, seasonal-naive, naive or none")
    note: str | None = Field(description="why a simpler method was used")
    days: list[DayForecast]
    month_to_date: float = Field(description="spent this month before today")
    month_end: Total = Field(description="projected spend of the whole month")


class SpendForecast(BaseModel):
    horizon_days: int
    today: str
    groups: list[ForecastGroup]


class Budget(BaseModel):
    name: str
    scope: str
    period: str
    amount_usd: float
    alert_at: list[float]
    period_start: str
    period_end: str
    spent_usd: float
    unpriced_calls: int = Field(description="calls in the period with no price (not spent)")
    share: float
    levels_reached: list[float]
    projected_usd: float = Field(description="the period's spend at its end, by the forecast")
    projected_share: float
    forecast_method: str
    exhausts_on: str | None = Field(description="the day the amount is reached, if in period")


class Budgets(BaseModel):
    budgets: list[Budget]


class Deleted(BaseModel):
    deleted: str


class HourProfile(BaseModel):
    hour: int = Field(description="hour of day, UTC")
    calls: int
    errors: int
    rate_limits: int
    error_rate: float
    rate_limit_rate: float
    latency_p95: float


class ProviderProfile(BaseModel):
    provider: str
    calls: int
    error_rate: float
    rate_limit_rate: float
    by_hour: list[HourProfile]
    worst_hours: list[int]


class Replayed(BaseModel):
    threshold: float = Field(description="M1's error rate in the previous window")
    windows_routed: int
    calls_routed: int
    errors_avoided: float
    cost_delta_usd: float = Field(description="the routed calls at the fallback's price, less")


class Route(Replayed):
    model_config = ConfigDict(extra="allow")  # the grouping field
    model_id: str
    fallback: str
    errors_share: float = Field(description="of the model's errors in the group")
    fallback_error_rate: float
    thresholds: list[Replayed]
    events: str


class Routing(BaseModel):
    window_s: int
    providers: list[ProviderProfile]
    routes: list[Route]


class Prefix(BaseModel):
    prompt_prefix_hash: str
    calls: int
    prefix_tokens: int = Field(description="estimate: the group's smallest prompt")
    input_tokens: int
    cached_tokens: int
    cacheable_tokens: int
    saving_usd: float | None


class CachingModel(BaseModel):
    model_id: str
    input_tokens: int
    repeated_input_tokens: int
    share: float = Field(description="of the model's input tokens, in repeated prefixes")
    cacheable_tokens: int
    cached_price_discount: float | None
    saving_usd: float | None = Field(description="over the range; null: model unpriced")
    monthly_saving_usd: float | None
    prefixes: list[Prefix]
    events: str


class Caching(BaseModel):
    models: list[CachingModel]


class Limits(BaseModel):
    rpm: float | None
    tpm: float | None


class DayPeak(BaseModel):
    day: str
    rpm: int
    tpm: int


class ProviderCapacity(BaseModel):
    provider: str
    limits: Limits
    daily_peaks: list[DayPeak]
    peak_rpm: int
    peak_tpm: int
    rpm_used: float | None = Field(description="peak over the limit")
    tpm_used: float | None
    rpm_reaches_limit_on: str | None
    tpm_reaches_limit_on: str | None


class Capacity(BaseModel):
    horizon_days: int
    providers: list[ProviderCapacity]


class ProviderLimit(BaseModel):
    provider: str
    rpm: float | None
    tpm: float | None

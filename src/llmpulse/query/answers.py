"""The shapes of the query API's answers, for its OpenAPI document.

Routes build their answers as plain data (fast: nothing is validated on the way out);
these models only describe them, and the schema test (schemathesis, tests/test_api_schema.py)
holds every answer against them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

Number = float | int


class Distribution(BaseModel):
    avg: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class ScoreSummary(BaseModel):
    name: str
    data_type: str
    count: int
    mean: float | None = Field(description="numeric and boolean scores (the share true)")
    shares: dict[str, float] | None = Field(None, description="categorical: each label's share")


class Group(BaseModel):
    key: dict[str, str | None] = Field(description="the group's value of each group_by dimension")
    requests: int
    errors: int
    error_rate: float
    latency_ms: Distribution
    ttft_ms: Distribution
    tokens_in: int
    tokens_out: int
    tokens_per_s: float
    cost_usd: float = Field(description="of the priced calls")
    unpriced: int = Field(description="calls whose cost is unknown (no price for the model)")
    score: ScoreSummary | None = Field(
        None, description="with metric=score:NAME: the score of the group's calls (null: none)"
    )


class Summary(BaseModel):
    groups: list[Group]


class Point(BaseModel):
    t: str = Field(description="bucket start, ISO 8601 UTC")
    value: Number | None


class Series(BaseModel):
    key: dict[str, str | None]
    points: list[Point]


class Timeseries(BaseModel):
    metric: str
    interval: str
    series: list[Series]


class Event(BaseModel):
    """A stored event: the fields of the v1 schema as stored (docs/event-schema.md)."""

    event_id: str
    ts: str
    received_at: str
    model_id: str
    model_version: str
    provider: str
    prompt_version: str
    prompt_prefix_hash: str = Field(description="hash of the leading prompt (prompt caching)")
    feature: str
    experiment_name: str
    experiment_variant: str
    operation: str
    status: str
    error_type: str | None = Field(description="null when the call did not fail")
    region: str
    environment: str
    client_app: str
    client_os: str
    finish_reason: str | None
    user_id: str
    session_id: str
    request_id: str
    trace_id: str
    span_id: str
    parent_span_id: str
    latency_ms: float
    ttft_ms: float | None
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    tokens_reasoning: int
    cost_usd: float | None = Field(description="null when unpriced")
    cost_source: str = Field(description="catalogue, override, reported or unpriced")
    stream: bool | None
    temperature: float | None
    max_tokens: int | None
    http_status: int | None
    prompt: str
    completion: str
    metadata: dict[str, str]
    tags: list[str]


class Score(BaseModel):
    score_id: str
    ts: str
    event_id: str | None
    trace_id: str | None
    name: str
    data_type: str = Field(description="numeric, boolean or categorical")
    source: str = Field(description="user, annotator or eval")
    value: float | bool | str
    comment: str | None


class ScoredEvent(Event):
    scores: list[Score] = Field(description="of the event, and of its trace")


class TopError(BaseModel):
    error_type: str
    model_id: str
    count: int
    share: float = Field(description="of all errors in the range")
    latest: Event | None


class TopErrors(BaseModel):
    errors: list[TopError]


class Requests(BaseModel):
    requests: list[Event]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class Related(BaseModel):
    trace: list[Event]
    session: list[Event]


class Session(BaseModel):
    session_id: str
    user_id: str
    start: str
    duration_ms: int
    calls: int
    errors: int
    cost_usd: float = Field(description="of the priced calls")
    unpriced: int
    models: list[str]


class Sessions(BaseModel):
    sessions: list[Session]


class ModelShape(BaseModel):
    histogram: list[int] = Field(description="calls per latency bin (bin_edges_ms)")
    sample: list[tuple[int, float, str]] = Field(description="(tokens, latency_ms, status)")


class ModelComparison(BaseModel):
    bin_edges_ms: list[float]
    models: dict[str, ModelShape]
    summary: list[Group]


class Rejected(BaseModel):
    received_at: str
    source: str
    reason: str
    raw: str = Field(description="the event as received (its first 1 MB)")


class RejectedList(BaseModel):
    rejected: list[Rejected]


class UnpricedModel(BaseModel):
    model_id: str
    provider: str
    events: int
    last_seen: str


class UnpricedModels(BaseModel):
    models: list[UnpricedModel]


class Span(BaseModel):
    """A span of a trace: an LLM call (`type` llm, with model, tokens and cost) or another
    span (`type` span, with name, kind, service, attributes)."""

    type: str
    event_id: str
    ts: str
    span_id: str
    parent_span_id: str
    latency_ms: float
    status: str
    error_type: str | None
    session_id: str
    user_id: str
    name: str
    kind: str
    provider: str | None = None
    ttft_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    service: str | None = None
    error_message: str | None = None
    input: str | None = None
    output: str | None = None
    attributes: dict[str, str] | None = None


class Trace(BaseModel):
    trace_id: str
    start: str
    duration_ms: float
    llm_calls: int
    errors: int
    spans: list[Span]


class LogRecord(BaseModel):
    ts: str
    event_id: str
    level: str
    severity_number: int
    message: str
    logger: str
    service: str
    trace_id: str
    span_id: str
    attributes: dict[str, str]


class Logs(BaseModel):
    logs: list[LogRecord]
    next_cursor: str | None = Field(description="the next page's cursor; null on the last")


class LogPoint(BaseModel):
    t: str
    records: int


class LogSeries(BaseModel):
    level: str
    points: list[LogPoint]


class LogCounts(BaseModel):
    interval: str
    series: list[LogSeries]
    total: int


class LogFacets(BaseModel):
    levels: dict[str, int]
    services: dict[str, int]


class CustomMetric(BaseModel):
    name: str
    type: str
    unit: str
    points: int
    tag_keys: list[str]
    last_value: float
    last_seen: str


class CustomMetrics(BaseModel):
    metrics: list[CustomMetric]


class ValuePoint(BaseModel):
    t: str
    value: float | None


class CustomSeries(BaseModel):
    key: dict[str, str | None]
    points: list[ValuePoint]


class CustomMetricSeries(BaseModel):
    name: str
    type: str
    unit: str
    agg: str
    interval: str
    series: list[CustomSeries]

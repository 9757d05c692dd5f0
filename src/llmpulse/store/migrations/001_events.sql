-- One row per LLM call. Project leads the sort key (every query filters on it), then time.
-- TTL is set at start-up from --retention-days (see store/retention.py).
CREATE TABLE IF NOT EXISTS llm_events
(
    project LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    event_id UUID,
    received_at DateTime64(3, 'UTC'),
    model_id LowCardinality(String),
    model_version LowCardinality(String),
    provider LowCardinality(String),
    prompt_version LowCardinality(String),
    experiment_name LowCardinality(String),
    experiment_variant LowCardinality(String),
    operation LowCardinality(String),
    status LowCardinality(String),
    error_type LowCardinality(String),
    region LowCardinality(String),
    environment LowCardinality(String),
    client_app LowCardinality(String),
    client_os LowCardinality(String),
    finish_reason LowCardinality(String),
    user_id String,
    session_id String,
    request_id String,
    trace_id String,
    span_id String,
    parent_span_id String,
    latency_ms Float64,
    ttft_ms Nullable(Float64),
    tokens_in UInt32,
    tokens_out UInt32,
    tokens_cached UInt32,
    tokens_reasoning UInt32,
    cost_usd Nullable(Float64),
    cost_status LowCardinality(String),
    stream Nullable(Bool),
    temperature Nullable(Float32),
    max_tokens Nullable(UInt32),
    http_status Nullable(UInt16),
    prompt String CODEC(ZSTD(3)),
    completion String CODEC(ZSTD(3)),
    metadata Map(LowCardinality(String), String),
    tags Array(LowCardinality(String)),
    INDEX idx_user user_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_session session_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_trace trace_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_event event_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (project, ts, event_id);

-- Events that failed validation, kept with the reason so nothing is silently dropped.
CREATE TABLE IF NOT EXISTS rejected_events
(
    project LowCardinality(String),
    received_at DateTime64(3, 'UTC'),
    source LowCardinality(String),
    reason String,
    raw String CODEC(ZSTD(3))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (project, received_at);

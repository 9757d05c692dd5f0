-- Spans that are not LLM calls (chains, tools, agents, retrievers, custom spans), kept so a
-- trace can be shown whole. LLM calls stay in llm_events, with the same trace and span ids.
CREATE TABLE IF NOT EXISTS trace_spans
(
    project LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    event_id UUID,
    received_at DateTime64(3, 'UTC'),
    trace_id String,
    span_id String,
    parent_span_id String,
    name String,
    kind LowCardinality(String),
    latency_ms Float64,
    status LowCardinality(String),
    error_type LowCardinality(String),
    error_message String,
    session_id String,
    user_id String,
    environment LowCardinality(String),
    service LowCardinality(String),
    input String CODEC(ZSTD(3)),
    output String CODEC(ZSTD(3)),
    attributes Map(LowCardinality(String), String),
    INDEX idx_trace trace_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_event event_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (project, ts, event_id);

-- Social posts, application logs and custom metrics: the same pipeline as LLM calls (spool,
-- loader, dedupe by event_id), so every table is sorted with the project first and its
-- event_id is the retry key: a post's is derived from (platform, post id), a log's and a
-- metric point's from their content when the client gives none (docs/social.md,
-- docs/logs-and-metrics.md).
CREATE TABLE IF NOT EXISTS social_posts
(
    project LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    event_id UUID,
    post_id String,
    platform LowCardinality(String),
    author_id String,
    author_handle String,
    author_followers UInt64,
    author_verified Bool,
    text String,
    lang LowCardinality(String),
    likes UInt64,
    reposts UInt64,
    replies UInt64,
    quotes UInt64,
    views Nullable(UInt64),
    engagement Float64,
    hashtags Array(LowCardinality(String)),
    cashtags Array(LowCardinality(String)),
    mentions Array(String),
    urls Array(String),
    reply_to String,
    conversation_id String,
    entities Array(LowCardinality(String)),
    sentiment Float32,
    sentiment_label LowCardinality(String),
    text_hash UInt64,
    llm_sentiment LowCardinality(String),
    llm_topic LowCardinality(String),
    metadata Map(LowCardinality(String), String),
    received_at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (project, ts, event_id);

CREATE TABLE IF NOT EXISTS app_logs
(
    project LowCardinality(String),
    ts DateTime64(6, 'UTC'),
    event_id UUID,
    level LowCardinality(String),
    severity_number UInt8,
    message String,
    logger LowCardinality(String),
    service LowCardinality(String),
    trace_id String,
    span_id String,
    attributes Map(LowCardinality(String), String),
    received_at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3),
    -- Text search: `lower(message) LIKE '%word%'` skips granules without the trigrams.
    INDEX message_ngrams lower(message) TYPE ngrambf_v1(3, 65536, 2, 0) GRANULARITY 1,
    INDEX trace trace_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (project, ts, event_id);

-- One row per metric point. gauge: `value`. counter: `value` is the increment (delta) or,
-- with temporality 'cumulative', the running total. histogram: `value` is the sum of the
-- observations and `count` their number, with OTLP's explicit buckets when given.
CREATE TABLE IF NOT EXISTS custom_metrics
(
    project LowCardinality(String),
    name LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    event_id UUID,
    type LowCardinality(String),
    temporality LowCardinality(String),
    value Float64,
    count UInt64,
    min Nullable(Float64),
    max Nullable(Float64),
    bounds Array(Float64),
    bucket_counts Array(UInt64),
    unit LowCardinality(String),
    tags Map(LowCardinality(String), String),
    received_at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (project, name, ts, event_id)

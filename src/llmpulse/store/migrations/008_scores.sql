-- Feedback and evaluation scores, attached to an event or to a whole trace. One row per
-- score id: posting the same id again replaces it (the newest received wins), read FINAL.
-- Numeric and boolean scores keep `value` (a boolean as 0 or 1), categorical ones `category`.
-- An orphan (its event or trace not stored) is kept: it joins once the event arrives.
CREATE TABLE IF NOT EXISTS scores
(
    project LowCardinality(String),
    score_id String,
    ts DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    event_id String,
    trace_id String,
    name LowCardinality(String),
    data_type LowCardinality(String),
    value Nullable(Float64),
    category String,
    source LowCardinality(String),
    comment String
)
ENGINE = ReplacingMergeTree(received_at)
ORDER BY (project, score_id)

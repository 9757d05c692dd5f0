-- Alerting: rules, channels, silences and SLOs are small documents (`kind`) kept as JSON,
-- one row per version (ReplacingMergeTree: the newest version wins, `deleted` removes),
-- read with FINAL.
-- Alert instances (one per rule and group) likewise. History is append-only.
-- (No semicolons in comments: statements are split on them.)
CREATE TABLE IF NOT EXISTS alert_documents
(
    project LowCardinality(String),
    kind LowCardinality(String),
    doc_id String,
    version UInt64,
    deleted UInt8 DEFAULT 0,
    definition String
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (project, kind, doc_id);

-- The state of each alert instance (a rule, and a group of its group_by), as last evaluated.
CREATE TABLE IF NOT EXISTS alert_instances
(
    project LowCardinality(String),
    rule_id String,
    instance String,
    version UInt64,
    deleted UInt8 DEFAULT 0,
    state String
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (project, rule_id, instance);

-- Every transition of an instance, with what was measured and who was told.
CREATE TABLE IF NOT EXISTS alert_events
(
    project LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    event_id String,
    rule_id String,
    rule_name String,
    instance String,
    from_state LowCardinality(String),
    to_state LowCardinality(String),
    severity LowCardinality(String),
    value Nullable(Float64),
    bound Nullable(Float64),
    threshold Nullable(Float64),
    detail String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (project, ts);

-- Each attempt to deliver an alert event to a channel.
CREATE TABLE IF NOT EXISTS alert_deliveries
(
    project LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    event_id String,
    channel_id String,
    ok UInt8,
    attempts UInt8,
    error String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (project, channel_id, ts);

-- Hourly sums per value of each dimension the main rollup does not keep (it would multiply
-- its rows): one row per (project, hour, dimension, value). Sums only, so thousands of
-- values (users) still merge fast. Answers "cost (or requests, errors, tokens) by prompt
-- version / experiment variant / region / client / user over days" without a raw scan.
-- Mirrors query/aggregates.py DIMENSION_ROLLUP.
CREATE TABLE IF NOT EXISTS llm_dimension_rollup_1h
(
    project LowCardinality(String),
    dimension LowCardinality(String),
    hour DateTime('UTC'),
    value String,
    requests SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    latency_sum SimpleAggregateFunction(sum, Float64),
    tokens_in SimpleAggregateFunction(sum, UInt64),
    tokens_out SimpleAggregateFunction(sum, UInt64),
    cost_usd SimpleAggregateFunction(sum, Float64),
    unpriced SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (project, dimension, hour, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS llm_dimension_rollup_1h_mv TO llm_dimension_rollup_1h AS
SELECT
    project,
    d.1 AS dimension,
    toStartOfHour(e.ts) AS hour,
    d.2 AS value,
    count() AS requests,
    countIf(e.status = 'error') AS errors,
    sum(e.latency_ms) AS latency_sum,
    sum(e.tokens_in) AS tokens_in,
    sum(e.tokens_out) AS tokens_out,
    sum(ifNull(e.cost_usd, 0)) AS cost_usd,
    countIf(e.cost_status = 'unpriced') AS unpriced
FROM llm_events AS e
ARRAY JOIN [
    ('prompt_version', toString(e.prompt_version)),
    ('experiment_name', toString(e.experiment_name)),
    ('experiment_variant', toString(e.experiment_variant)),
    ('region', toString(e.region)),
    ('client_app', toString(e.client_app)),
    ('client_os', toString(e.client_os)),
    ('model_version', toString(e.model_version)),
    ('user_id', e.user_id)
] AS d
GROUP BY project, dimension, hour, value;

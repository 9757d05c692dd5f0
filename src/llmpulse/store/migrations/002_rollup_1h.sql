-- Hourly rollup of llm_events for long-range summaries and hourly/daily series: one row
-- per (project, hour, low-cardinality dimensions) with mergeable partial aggregates.
-- The query layer reads whole hours from here and the partial hours at a range's edges
-- from llm_events. The expressions mirror query/aggregates.py MEASURES (a test checks
-- both paths give the same numbers). Shipped with 001, so there are no older events.
-- Columns are qualified (e.) where an output alias has the same name as a column.
CREATE TABLE IF NOT EXISTS llm_rollup_1h
(
    project LowCardinality(String),
    hour DateTime('UTC'),
    model_id LowCardinality(String),
    provider LowCardinality(String),
    status LowCardinality(String),
    error_type LowCardinality(String),
    environment LowCardinality(String),
    operation LowCardinality(String),
    requests SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    latency_sum SimpleAggregateFunction(sum, Float64),
    latency_q AggregateFunction(quantilesDD(0.005, 0.5, 0.95, 0.99), Float64),
    ttft_sum SimpleAggregateFunction(sum, Float64),
    ttft_count SimpleAggregateFunction(sum, UInt64),
    ttft_q AggregateFunction(quantilesDD(0.005, 0.5, 0.95, 0.99), Nullable(Float64)),
    tokens_in SimpleAggregateFunction(sum, UInt64),
    tokens_out SimpleAggregateFunction(sum, UInt64),
    tps_tokens SimpleAggregateFunction(sum, UInt64),
    tps_ms SimpleAggregateFunction(sum, Float64),
    cost_usd SimpleAggregateFunction(sum, Float64),
    unpriced SimpleAggregateFunction(sum, UInt64),
    -- Calls per latency bin: 64 log-spaced bins, bin = floor(4 * ln(ms)), from 1 ms to ~2 hours.
    latency_bins SimpleAggregateFunction(sumMap, Map(UInt8, UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (project, hour, model_id, provider, status, error_type, environment, operation);

CREATE MATERIALIZED VIEW IF NOT EXISTS llm_rollup_1h_mv TO llm_rollup_1h AS
SELECT
    project,
    toStartOfHour(e.ts) AS hour,
    model_id, provider, status, error_type, environment, operation,
    count() AS requests,
    countIf(e.status = 'error') AS errors,
    sum(e.latency_ms) AS latency_sum,
    quantilesDDState(0.005, 0.5, 0.95, 0.99)(e.latency_ms) AS latency_q,
    sum(ifNull(e.ttft_ms, 0)) AS ttft_sum,
    count(e.ttft_ms) AS ttft_count,
    quantilesDDState(0.005, 0.5, 0.95, 0.99)(e.ttft_ms) AS ttft_q,
    sum(e.tokens_in) AS tokens_in,
    sum(e.tokens_out) AS tokens_out,
    sumIf(e.tokens_out, e.status = 'ok' AND e.tokens_out > 0 AND e.latency_ms - ifNull(e.ttft_ms, 0) > 0) AS tps_tokens,
    sumIf(e.latency_ms - ifNull(e.ttft_ms, 0), e.status = 'ok' AND e.tokens_out > 0 AND e.latency_ms - ifNull(e.ttft_ms, 0) > 0) AS tps_ms,
    sum(ifNull(e.cost_usd, 0)) AS cost_usd,
    countIf(e.cost_status = 'unpriced') AS unpriced,
    sumMap(map(toUInt8(least(63, floor(4.0 * log(greatest(e.latency_ms, 1))))), toUInt64(1))) AS latency_bins
FROM llm_events AS e
GROUP BY project, hour, model_id, provider, status, error_type, environment, operation;


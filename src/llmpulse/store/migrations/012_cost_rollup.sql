-- Hourly sums per feature, prompt version and model for cost advice: what each model's
-- calls cost, and their tokens by kind (priced calls only) to re-price them at another
-- model's price. A price is linear in the tokens within a prompt-size band, so the sums
-- are kept per band: `price_band` counts the band edges below a call's prompt, edges
-- being every tier start of the genai-prices catalogue (query/aggregates.py BAND_EDGES
-- mirrors them). Cost sums are signed: a re-costing corrects them by differences.
-- Mirrors query/aggregates.py MEASURES.
ALTER TABLE llm_events ADD COLUMN IF NOT EXISTS price_band UInt8
MATERIALIZED toUInt8(arrayCount(edge -> tokens_in > edge, [32000, 100000, 128000, 199999, 200000, 256000, 272000, 512000, 524288]));

ALTER TABLE llm_events MATERIALIZE COLUMN price_band SETTINGS mutations_sync = 1;

CREATE TABLE IF NOT EXISTS llm_cost_rollup_1h
(
    project LowCardinality(String),
    hour DateTime('UTC'),
    feature LowCardinality(String),
    prompt_version LowCardinality(String),
    model_id LowCardinality(String),
    provider LowCardinality(String),
    price_band UInt8,
    requests SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    cost_usd SimpleAggregateFunction(sum, Float64),
    unpriced SimpleAggregateFunction(sum, Int64),
    priced SimpleAggregateFunction(sum, Int64),
    priced_uncached SimpleAggregateFunction(sum, Int64),
    priced_cached SimpleAggregateFunction(sum, Int64),
    priced_plain SimpleAggregateFunction(sum, Int64),
    priced_reasoning SimpleAggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (project, hour, feature, prompt_version, model_id, provider, price_band)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS llm_cost_rollup_1h_mv TO llm_cost_rollup_1h AS
SELECT
    project,
    toStartOfHour(e.ts) AS hour,
    feature, prompt_version, model_id, provider, price_band,
    count() AS requests,
    countIf(e.status = 'error') AS errors,
    sum(ifNull(e.cost_usd, 0)) AS cost_usd,
    toInt64(countIf(e.cost_source = 'unpriced')) AS unpriced,
    toInt64(count(e.cost_usd)) AS priced,
    toInt64(sumIf(toInt64(e.tokens_in) - least(e.tokens_cached, e.tokens_in), e.cost_usd IS NOT NULL)) AS priced_uncached,
    toInt64(sumIf(least(e.tokens_cached, e.tokens_in), e.cost_usd IS NOT NULL)) AS priced_cached,
    toInt64(sumIf(toInt64(e.tokens_out) - least(e.tokens_reasoning, e.tokens_out), e.cost_usd IS NOT NULL)) AS priced_plain,
    toInt64(sumIf(least(e.tokens_reasoning, e.tokens_out), e.cost_usd IS NOT NULL)) AS priced_reasoning
FROM llm_events AS e
GROUP BY project, hour, feature, prompt_version, model_id, provider, price_band;

-- The calls stored before this migration, once (the loader starts after migrations).
INSERT INTO llm_cost_rollup_1h
SELECT
    project,
    toStartOfHour(e.ts) AS hour,
    feature, prompt_version, model_id, provider, price_band,
    count() AS requests,
    countIf(e.status = 'error') AS errors,
    sum(ifNull(e.cost_usd, 0)) AS cost_usd,
    toInt64(countIf(e.cost_source = 'unpriced')) AS unpriced,
    toInt64(count(e.cost_usd)) AS priced,
    toInt64(sumIf(toInt64(e.tokens_in) - least(e.tokens_cached, e.tokens_in), e.cost_usd IS NOT NULL)) AS priced_uncached,
    toInt64(sumIf(least(e.tokens_cached, e.tokens_in), e.cost_usd IS NOT NULL)) AS priced_cached,
    toInt64(sumIf(toInt64(e.tokens_out) - least(e.tokens_reasoning, e.tokens_out), e.cost_usd IS NOT NULL)) AS priced_plain,
    toInt64(sumIf(least(e.tokens_reasoning, e.tokens_out), e.cost_usd IS NOT NULL)) AS priced_reasoning
FROM llm_events AS e
GROUP BY project, hour, feature, prompt_version, model_id, provider, price_band;

-- Costs can be re-costed (costs/recost.py): `cost_status` becomes `cost_source`, which says
-- where a cost came from (catalogue, override, reported or unpriced). The two rollup views
-- are re-created over the renamed column, and their unpriced counts become signed: a
-- re-costing corrects a rollup by inserting the difference, which can be negative.
-- `prompt_prefix_hash` is a hash of a call's leading prompt (sent by the SDK and proxy,
-- never the text) for finding prompt-caching opportunities.
ALTER TABLE llm_events RENAME COLUMN IF EXISTS cost_status TO cost_source;

ALTER TABLE llm_events UPDATE cost_source = 'catalogue' WHERE cost_source = 'computed'
SETTINGS mutations_sync = 1;

ALTER TABLE llm_events ADD COLUMN IF NOT EXISTS prompt_prefix_hash String AFTER prompt_version;

ALTER TABLE llm_rollup_1h MODIFY COLUMN unpriced SimpleAggregateFunction(sum, Int64);

ALTER TABLE llm_dimension_rollup_1h MODIFY COLUMN unpriced SimpleAggregateFunction(sum, Int64);

DROP VIEW IF EXISTS llm_rollup_1h_mv;

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
    countIf(e.cost_source = 'unpriced') AS unpriced,
    sumMap(map(toUInt8(least(63, floor(4.0 * log(greatest(e.latency_ms, 1))))), toUInt64(1))) AS latency_bins
FROM llm_events AS e
GROUP BY project, hour, model_id, provider, status, error_type, environment, operation;

DROP VIEW IF EXISTS llm_dimension_rollup_1h_mv;

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
    countIf(e.cost_source = 'unpriced') AS unpriced
FROM llm_events AS e
ARRAY JOIN [
    ('prompt_version', toString(e.prompt_version)),
    ('feature', toString(e.feature)),
    ('experiment_name', toString(e.experiment_name)),
    ('experiment_variant', toString(e.experiment_variant)),
    ('region', toString(e.region)),
    ('client_app', toString(e.client_app)),
    ('client_os', toString(e.client_os)),
    ('model_version', toString(e.model_version)),
    ('user_id', e.user_id)
] AS d
GROUP BY project, dimension, hour, value;

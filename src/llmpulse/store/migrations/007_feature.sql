-- `feature`: the product feature a call serves (search, summarize, export...), a dimension
-- like the others: for experiments, funnels and adoption. The per-dimension rollup gets it
-- too: its view is replaced by one that also emits the feature's rows (hours loaded
-- before hold none: their calls had no feature).
ALTER TABLE llm_events ADD COLUMN IF NOT EXISTS feature LowCardinality(String) AFTER prompt_version;

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
    countIf(e.cost_status = 'unpriced') AS unpriced
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

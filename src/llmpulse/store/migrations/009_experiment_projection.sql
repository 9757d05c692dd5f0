-- Experiment reports read one experiment's calls out of all of them. The table is sorted by
-- time, so every experiment's rows are spread over every granule and each report read the
-- whole range. This projection keeps the few columns the reports use sorted by experiment
-- and variant: a report reads its own experiment's rows only (a third of the time over
-- three experiments, far less when most calls are in none). ClickHouse keeps it on every
-- insert, merge and TTL, and uses it only for queries it covers (a filter on another
-- dimension reads the table as before). It costs the size of these columns again (without
-- the event and trace ids: scores join on those, from the table).
ALTER TABLE llm_events ADD PROJECTION IF NOT EXISTS by_experiment
(
    SELECT project, ts, experiment_name, experiment_variant, user_id, status, latency_ms,
        ttft_ms, tokens_out, cost_usd
    ORDER BY project, experiment_name, experiment_variant, ts
);

ALTER TABLE llm_events MATERIALIZE PROJECTION by_experiment SETTINGS mutations_sync = 1

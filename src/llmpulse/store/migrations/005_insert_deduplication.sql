-- Exactly-once loads: the loader gives each insert a deduplication token and, after a
-- crash, repeats an insert with the same token. Each table (rollups included, through
-- deduplicate_blocks_in_dependent_materialized_views) then takes the insert's rows once,
-- whichever tables the interrupted insert had reached. Tokens of the last 1,000 inserts
-- are kept per table.
ALTER TABLE llm_events MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE llm_rollup_1h MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE llm_dimension_rollup_1h MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE trace_spans MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE rejected_events MODIFY SETTING non_replicated_deduplication_window = 1000;

-- Data lifecycle: the lake, exports and erasure.
-- `inserted_at` is when a row reached the store (not when its call happened, nor when the
-- collector received it): the lake exports by it, so an event loaded late (a spool drained
-- after an outage, a backfill) is still exported by the next run. Rows stored before this
-- migration get the migration's time, fixed on disk by MATERIALIZE (a DEFAULT left
-- unmaterialized would be computed afresh on every read).
ALTER TABLE llm_events ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') DEFAULT now64(3);
ALTER TABLE llm_events MATERIALIZE COLUMN inserted_at SETTINGS mutations_sync = 1;
ALTER TABLE rejected_events ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') DEFAULT now64(3);
ALTER TABLE rejected_events MATERIALIZE COLUMN inserted_at SETTINGS mutations_sync = 1;
-- Where an accepted event came from (http, otlp), as the dead letters already say.
ALTER TABLE llm_events ADD COLUMN IF NOT EXISTS source LowCardinality(String) AFTER received_at;

-- Erasure deletes calls with lightweight DELETE: the experiment projection (009) is rebuilt
-- for the parts it touches rather than refusing the delete.
ALTER TABLE llm_events MODIFY SETTING lightweight_mutation_projection_mode = 'rebuild';

-- Tombstones of erased users: lake exports and backfills leave their calls out, so an
-- erased user never comes back from a copy. One row per erasure, with its receipt.
CREATE TABLE IF NOT EXISTS erasures
(
    project LowCardinality(String),
    user_id String,
    erased_at DateTime64(3, 'UTC'),
    receipt String
)
ENGINE = MergeTree
ORDER BY (project, user_id, erased_at)

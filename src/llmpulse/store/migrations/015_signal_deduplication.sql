-- Exactly-once loads of posts, logs and metric points, as 005 for the call tables: the
-- loader repeats an interrupted insert under the same deduplication token, and each table
-- keeps the tokens of its last 1,000 inserts to take it once.
ALTER TABLE social_posts MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE app_logs MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE custom_metrics MODIFY SETTING non_replicated_deduplication_window = 1000

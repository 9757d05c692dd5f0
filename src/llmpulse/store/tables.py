"""Names of the tables the migrations create, for the code that reads and writes them."""

from typing import Final

EVENTS: Final = "llm_events"
REJECTED: Final = "rejected_events"
ROLLUP_1H: Final = "llm_rollup_1h"  # 002_rollup_1h.sql
DIMENSION_ROLLUP_1H: Final = "llm_dimension_rollup_1h"  # 003_dimension_rollup_1h.sql
SPANS: Final = "trace_spans"  # 004_trace_spans.sql
# 006_alerts.sql
ALERT_DOCUMENTS: Final = "alert_documents"
ALERT_INSTANCES: Final = "alert_instances"
ALERT_EVENTS: Final = "alert_events"
ALERT_DELIVERIES: Final = "alert_deliveries"
SCORES: Final = "scores"  # 008_scores.sql
DUPLICATES: Final = "ingest_duplicates"  # 010_drift_quality.sql
COST_ROLLUP_1H: Final = "llm_cost_rollup_1h"  # 012_cost_rollup.sql
ERASURES: Final = "erasures"  # 013_lifecycle.sql
# 014_social_logs_metrics.sql
POSTS: Final = "social_posts"
LOGS: Final = "app_logs"
METRICS: Final = "custom_metrics"
# 016_social_rollups.sql
POSTS_ROLLUP_1H: Final = "social_rollup_1h"
TAGS_ROLLUP_1H: Final = "social_tags_1h"

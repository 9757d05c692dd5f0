"""The closed vocabularies of the v1 event schema and the dimensions queries may use."""

from typing import Final

OPERATIONS: Final = ("chat", "completion", "embedding", "tool", "agent", "other")
STATUSES: Final = ("ok", "error")
ERROR_TYPES: Final = (
    "timeout",
    "rate_limit",
    "server_error",
    "client_error",
    "auth",
    "content_filter",
    "context_length",
    "network",
    "cancelled",
    "other",
)

# Columns a query may group by or filter on; each is a column of `llm_events`.
DIMENSIONS: Final = (
    "model_id",
    "provider",
    "model_version",
    "prompt_version",
    "feature",
    "experiment_name",
    "experiment_variant",
    "status",
    "error_type",
    "region",
    "client_app",
    "client_os",
    "environment",
    "operation",
    "user_id",
    "session_id",
)

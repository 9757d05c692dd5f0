"""Starter rules: what most teams want first, off until enabled (one PUT of the rule under
its id: the Alerts page's "Enable" button does it)."""

from __future__ import annotations

from typing import Any, Final

STARTERS: Final[dict[str, dict[str, Any]]] = {
    "starter-error-rate": {
        "name": "Error rate above 5% (95% confidence)",
        "metric": "error_rate", "critical": 0.05, "confidence": 0.95, "window": "15m",
        "every": "1m", "group_by": ["model_id"], "min_requests": 20,
    },
    "starter-latency": {
        "name": "p95 latency above twice its last 7 days",
        "metric": "latency_p95", "critical": 2.0, "window": "15m", "every": "1m",
        "group_by": ["model_id"], "min_requests": 20, "params": {"baseline": "7d"},
    },
    "starter-cost": {
        "name": "Cost per hour above twice its last 7 days",
        "metric": "cost_usd", "critical": 2.0, "window": "1h", "every": "5m",
        "params": {"baseline": "7d"},
    },
    "starter-no-events": {
        "name": "No events for 15 minutes",
        "metric": "requests", "comparison": "<", "critical": 1, "window": "15m", "every": "1m",
    },
    "starter-unpriced": {
        "name": "Unpriced calls above 1%",
        "metric": "unpriced_share", "warning": 0.01, "window": "1h", "every": "5m",
        "min_requests": 20,
    },
}  # fmt: skip

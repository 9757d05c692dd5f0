"""What an experiment report is asked for, and the metrics its verdict may judge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

Method = Literal["sequential", "fixed"]
Unit = Literal["auto", "event", "user"]
# Higher is worse for all the default guardrails.
GUARDRAILS: Final = {"error_rate": 1.0, "latency_p95": 1.0, "cost_per_call": 1.0}
TOLERANCE: Final = 0.10  # a guardrail fails when it is surely more than 10% worse
MIN_EVENTS: Final = 100
MIN_USERS: Final = 30
GUARDABLE: Final = frozenset(
    [
        "error_rate",
        "latency_p50",
        "latency_p95",
        "ttft_p95",
        "tokens_out",
        "cost_per_call",
        "tokens_per_s",
    ]
)
LOWER_IS_BETTER: Final = frozenset(
    ("error_rate", "latency_p50", "latency_p95", "ttft_p95", "cost_per_call")
)


@dataclass(frozen=True)
class Options:
    control: str | None = None
    method: Method = "sequential"
    unit: Unit = "auto"
    confidence: float = 0.95
    split: dict[str, float] | None = None  # planned shares; equal by default
    guardrails: dict[str, float] | None = None  # metric -> weight
    tolerance: float = TOLERANCE
    min_events: int = MIN_EVENTS
    min_users: int = MIN_USERS


Result = dict[str, Any]  # one metric of one variant: value, ci, diff, p-values, test

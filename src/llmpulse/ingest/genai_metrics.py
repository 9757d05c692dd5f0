"""The OpenTelemetry GenAI client metrics of each project, for Prometheus.

Fed by the loader with the calls it stores (each once: after deduplication), aggregated
per label set with numpy, and exposed in the semantic conventions' names and bucket
boundaries: `gen_ai_client_operation_duration_seconds`, `gen_ai_client_token_usage`
(`gen_ai_token_type` input/output), `gen_ai_server_time_to_first_token_seconds`, plus
`llmpulse_cost_usd_total` and `llmpulse_calls_unpriced_total`. Labels:
`gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model`, `error_type`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

# The bucket boundaries the GenAI semantic conventions advise.
DURATION_S: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24,
                     20.48, 40.96, 81.92)  # fmt: skip
TOKENS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864)  # fmt: skip
TTFT_S: Final = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
                 2.5, 5.0, 7.5, 10.0)  # fmt: skip
LABELS: Final = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model",
                 "error_type")  # fmt: skip
# One stored call: model, provider, operation, error type ("" for none), latency ms,
# TTFT ms or None, tokens in, tokens out, cost USD or None (unpriced).
Call = tuple[str, str, str, str, float, float | None, int, int, float | None]


@dataclass
class _Histogram:
    bounds: tuple[float, ...]
    counts: np.ndarray[Any, np.dtype[np.int64]] = field(init=False)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.bounds) + 1, dtype=np.int64)

    def add(self, values: np.ndarray[Any, np.dtype[np.float64]]) -> None:
        if values.size:
            slots = np.searchsorted(np.asarray(self.bounds), values, side="left")
            self.counts += np.bincount(slots, minlength=len(self.counts))
            self.total += float(values.sum())

    def buckets(self) -> list[tuple[str, float]]:
        cumulative = np.cumsum(self.counts)
        edges = [*(repr(float(b)) for b in self.bounds), "+Inf"]
        return [(edge, float(n)) for edge, n in zip(edges, cumulative, strict=True)]


@dataclass
class _Series:
    duration: _Histogram = field(default_factory=lambda: _Histogram(DURATION_S))
    ttft: _Histogram = field(default_factory=lambda: _Histogram(TTFT_S))
    tokens_in: _Histogram = field(default_factory=lambda: _Histogram(TOKENS))
    tokens_out: _Histogram = field(default_factory=lambda: _Histogram(TOKENS))
    cost: float = 0.0
    unpriced: int = 0


class GenAiMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[str, dict[tuple[str, str, str, str], _Series]] = {}

    def add(self, project: str, calls: Sequence[Call]) -> None:
        by_labels: dict[tuple[str, str, str, str], list[Call]] = {}
        for call in calls:
            by_labels.setdefault((call[2], call[1], call[0], call[3]), []).append(call)
        with self._lock:
            mine = self._series.setdefault(project, {})
            for labels, group in by_labels.items():
                series = mine.setdefault(labels, _Series())
                series.duration.add(np.array([c[4] for c in group]) / 1000)
                series.ttft.add(np.array([c[5] for c in group if c[5] is not None]) / 1000)
                series.tokens_in.add(np.array([c[6] for c in group], dtype=np.float64))
                series.tokens_out.add(np.array([c[7] for c in group], dtype=np.float64))
                series.cost += sum(c[8] for c in group if c[8] is not None)
                series.unpriced += sum(1 for c in group if c[8] is None)

    def collector(self, project: str) -> ProjectCollector:
        return ProjectCollector(self, project)

    def families(self, project: str) -> Iterator[Metric]:
        duration = HistogramMetricFamily(
            "gen_ai_client_operation_duration_seconds", "GenAI operation duration",
            labels=LABELS, unit="seconds",
        )  # fmt: skip
        tokens = HistogramMetricFamily(
            "gen_ai_client_token_usage", "Tokens used per call, by token type",
            labels=(*LABELS, "gen_ai_token_type"),
        )  # fmt: skip
        ttft = HistogramMetricFamily(
            "gen_ai_server_time_to_first_token_seconds", "Time to the first output token",
            labels=LABELS, unit="seconds",
        )  # fmt: skip
        cost = CounterMetricFamily("llmpulse_cost_usd", "Cost of priced calls", labels=LABELS)
        unpriced = CounterMetricFamily(
            "llmpulse_calls_unpriced", "Calls of models without a price", labels=LABELS
        )
        with self._lock:
            for labels, s in self._series.get(project, {}).items():
                values = list(labels)
                duration.add_metric(values, s.duration.buckets(), s.duration.total)
                tokens.add_metric([*values, "input"], s.tokens_in.buckets(), s.tokens_in.total)
                tokens.add_metric([*values, "output"], s.tokens_out.buckets(), s.tokens_out.total)
                if s.ttft.counts.sum():
                    ttft.add_metric(values, s.ttft.buckets(), s.ttft.total)
                cost.add_metric(values, s.cost)
                unpriced.add_metric(values, s.unpriced)
        yield from (duration, tokens, ttft, cost, unpriced)


class ProjectCollector:
    """One project's GenAI metrics, registered for one scrape."""

    def __init__(self, metrics: GenAiMetrics, project: str) -> None:
        self._metrics, self._project = metrics, project

    def collect(self) -> Iterator[Metric]:
        return self._metrics.families(self._project)


GENAI = GenAiMetrics()

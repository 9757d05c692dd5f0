"""Metrics read at scrape time from the live platform: spool depth, loader lag, alert
evaluations and notifications."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from llmpulse.alerts.evaluator import Evaluator
from llmpulse.ingest.telemetry import PIPELINE
from llmpulse.server.platform import Platform

_registered: dict[str, Gauge] = {}


def register_gauges(ctx: Platform) -> None:
    spool = ctx.ingest.spool
    gauges = {
        "llmpulse_spool_pending_batches": (
            "Spooled batches not yet in the store",
            lambda: spool.pending()[0],
        ),
        "llmpulse_spool_pending_bytes": (
            "Spooled bytes not yet in the store",
            lambda: spool.pending()[1],
        ),
        "llmpulse_loader_lag_seconds": (
            "Age of the oldest batch not yet loaded here: spooled (or, on a loader, when "
            "the last run's oldest batch was published)",
            ctx.lag_seconds,
        ),
    }
    for name, (doc, read) in gauges.items():
        if name not in _registered:
            _registered[name] = Gauge(name, doc, registry=PIPELINE.registry)
        _registered[name].set_function(read)


class AlertMetrics:
    """The evaluator's counters as Prometheus counters."""

    def __init__(self, alerts: Evaluator) -> None:
        self._alerts = alerts

    def collect(self) -> Iterator[Metric]:
        evaluations = CounterMetricFamily(
            "llmpulse_alert_evaluations", "Evaluation rounds of the alert rules"
        )
        evaluations.add_metric([], self._alerts.evaluations)
        notifications = CounterMetricFamily(
            "llmpulse_alert_notifications", "Alert deliveries, by outcome", labels=["result"]
        )
        for result, count in self._alerts.notifier.outcomes.items():
            notifications.add_metric([result], count)
        failing = GaugeMetricFamily(
            "llmpulse_alert_rules_failing", "Rules whose last evaluation failed"
        )
        failing.add_metric([], len(self._alerts.errors))
        yield from (evaluations, notifications, failing)

"""OTLP metrics in the v1 metric shape (events/custom_metrics.py): a gauge's points are
gauges; a monotonic sum's are counters (delta or cumulative, as sent); a non-monotonic sum
(an up-down counter) is a gauge; an explicit-bucket histogram keeps its sum, count, min,
max and buckets. Exponential histograms and summaries are refused, point by point."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

from llmpulse.events.otlp_values import from_unix_nano, pb_attributes, scalar_attributes

_TEMPORALITY = {
    AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA: "delta",
    AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE: "cumulative",
}


def map_metrics(
    request: ExportMetricsServiceRequest,
) -> tuple[list[Any], list[str], dict[int, str]]:
    """(v1 metric points, each one's place, and the points that cannot be mapped: index ->
    reason)."""
    points: list[Any] = []
    places: list[str] = []
    refused: dict[int, str] = {}
    for r, resource_metrics in enumerate(request.resource_metrics):
        service = pb_attributes(resource_metrics.resource.attributes).get("service.name")
        common = {"service": service} if isinstance(service, str) else {}
        for s, scope_metrics in enumerate(resource_metrics.scope_metrics):
            for m, metric in enumerate(scope_metrics.metrics):
                place = f"resourceMetrics[{r}].scopeMetrics[{s}].metrics[{m}]"
                mapped = _points(metric, common)
                if isinstance(mapped, str):
                    refused[len(points)] = mapped
                    points.append({"name": metric.name})
                    places.append(place)
                    continue
                for p, point in enumerate(mapped):
                    points.append(point)
                    places.append(f"{place}.dataPoints[{p}]")
    return points, places, refused


def _points(metric: Metric, common: dict[str, str]) -> list[dict[str, Any]] | str:
    kind = metric.WhichOneof("data")
    base = {"name": metric.name, "unit": metric.unit or None}

    def tags(point: Any) -> dict[str, Any]:
        return {**common, **scalar_attributes(pb_attributes(point.attributes))}

    if kind in ("gauge", "sum"):
        data = getattr(metric, kind)
        counter = kind == "sum" and data.is_monotonic
        return [
            {
                **base,
                "type": "counter" if counter else "gauge",
                "temporality": _TEMPORALITY.get(data.aggregation_temporality) if counter else None,
                "value": p.as_double if p.WhichOneof("value") == "as_double" else p.as_int,
                "ts": from_unix_nano(p.time_unix_nano),
                "tags": tags(p),
            }
            for p in data.data_points
        ]
    if kind == "histogram":
        data = metric.histogram
        return [
            {
                **base,
                "type": "histogram",
                "temporality": _TEMPORALITY.get(data.aggregation_temporality),
                "value": p.sum,
                "count": p.count,
                "min": p.min if p.HasField("min") else None,
                "max": p.max if p.HasField("max") else None,
                "bounds": list(p.explicit_bounds),
                "bucket_counts": list(p.bucket_counts),
                "ts": from_unix_nano(p.time_unix_nano),
                "tags": tags(p),
            }
            for p in data.data_points
        ]
    return (
        f"{kind or 'empty'} metrics are not supported: "
        "send gauges, sums or explicit-bucket histograms"
    )

"""OTLP log records (the OpenTelemetry logs data model) in the v1 log shape
(events/logs.py): the resource's `service.name` is the service, the instrumentation
scope's name the logger; a body that is not a string is kept as JSON text."""

from __future__ import annotations

from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from llmpulse.events.otlp_values import from_unix_nano, pb_attributes, pb_value, scalar_attributes


def map_logs(request: ExportLogsServiceRequest) -> tuple[list[dict[str, Any]], list[str]]:
    """(v1 log records, each one's place in the request)."""
    records, places = [], []
    for r, resource_logs in enumerate(request.resource_logs):
        service = pb_attributes(resource_logs.resource.attributes).get("service.name")
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            for i, record in enumerate(scope_logs.log_records):
                body = pb_value(record.body)
                log: dict[str, Any] = {
                    "message": body if isinstance(body, str) else orjson.dumps(body).decode(),
                    "ts": from_unix_nano(record.time_unix_nano or record.observed_time_unix_nano),
                    "service": service if isinstance(service, str) else None,
                    "logger": scope_logs.scope.name or None,
                    "trace_id": record.trace_id.hex() or None,
                    "span_id": record.span_id.hex() or None,
                    "attributes": scalar_attributes(pb_attributes(record.attributes)) or None,
                }
                # The number is the standard; the text is only read when there is none.
                if record.severity_number:
                    log["severity_number"] = record.severity_number
                elif record.severity_text:
                    log["level"] = record.severity_text
                records.append({k: v for k, v in log.items() if v is not None})
                places.append(f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]")
    return records, places

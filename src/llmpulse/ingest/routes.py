"""HTTP ingest: POST /v1/events (v1 events), /v1/traces (OTLP/HTTP), /v1/social/posts,
/v1/logs and /v1/metrics (v1 records, or OTLP/HTTP logs and metrics)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from llmpulse.api.auth import require
from llmpulse.api.errors import error_responses
from llmpulse.api.responses import JsonResponse
from llmpulse.api.services import Service
from llmpulse.ingest.answers import (
    BINARY,
    EVENTS_BODY,
    LOGS_BODY,
    METRICS_BODY,
    POSTS_BODY,
    TRACES_BODY,
    Accepted,
    NoneAccepted,
    OtlpLogsAnswer,
    OtlpMetricsAnswer,
    TraceAnswer,
)
from llmpulse.ingest.body import (
    JSON_TYPES,
    BodyError,
    check_content_type,
    media_type,
    read_body,
)
from llmpulse.ingest.prepare import PROTOBUF_TYPES
from llmpulse.ingest.service import IngestService
from llmpulse.meta.keys import INGEST, Grant

router = APIRouter(tags=["ingest"])
PIPELINE: Service[IngestService] = Service("ingest")
Pipeline = Annotated[IngestService, Depends(PIPELINE)]
Sender = Annotated[Grant, Depends(require(INGEST))]


@router.post(
    "/v1/events",
    status_code=202,
    summary="Send events: a JSON object, a JSON array or NDJSON (optionally gzip)",
    response_model=None,
    responses={
        202: {
            "model": Accepted,
            "description": "Every valid event is durable; `errors` lists the others",
        },
        400: {"model": NoneAccepted, "description": "No event could be stored"},
        **error_responses(401, 403, 413, 415, 503, 507),
    },
    openapi_extra={"requestBody": EVENTS_BODY},
)
async def post_events(request: Request, sender: Sender, ingest: Pipeline) -> JsonResponse:
    """202 once every valid event is on disk; invalid ones are listed in `errors` and kept
    in the dead-letter table. 400 when no event is valid."""
    check_content_type(request.headers.get("content-type"))
    body = await read_body(request)
    result = await ingest.ingest(
        body,
        request.headers.get("content-type"),
        request.headers.get("content-encoding"),
        sender.project,
    )
    return JsonResponse(result.answer, result.status)


@router.post(
    "/v1/traces",
    summary="OTLP/HTTP trace export (protobuf or JSON, optionally gzip)",
    response_model=None,
    responses={
        200: {
            "model": TraceAnswer,
            "description": "Every valid span is durable; partialSuccess counts the others",
            "content": {
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        **error_responses(400, 401, 403, 413, 415, 503, 507),
    },
    openapi_extra={"requestBody": TRACES_BODY},
)
async def post_traces(request: Request, sender: Sender, ingest: Pipeline) -> Response:
    """200 with an ExportTraceServiceResponse, in the request's encoding, once every valid
    span is on disk. LLM calls become events; other spans are kept as trace spans."""
    content_type = request.headers.get("content-type")
    protobuf = media_type(content_type) in PROTOBUF_TYPES
    if not protobuf and media_type(content_type) not in JSON_TYPES:
        raise BodyError(
            415,
            "Content-Type",
            f"unsupported content type {media_type(content_type)!r}: "
            "send application/x-protobuf or application/json",
        )
    body = await read_body(request)
    result = await ingest.ingest(
        body, content_type, request.headers.get("content-encoding"), sender.project, "otlp",
        "traces",
    )  # fmt: skip
    return _answer(result.answer, result.status, "traces" if protobuf else None)


def _signal_responses(otlp_model: Any, noun: str) -> dict[int | str, dict[str, Any]]:
    """The answers of a route taking v1 items or an OTLP export of one signal."""
    return {
        200: {
            "model": otlp_model,
            "description": f"OTLP: every valid {noun} is durable; partialSuccess counts the others",
            "content": {"application/x-protobuf": BINARY},
        },
        202: {"model": Accepted, "description": f"v1: every valid {noun} is durable"},
        400: {"model": NoneAccepted, "description": f"No {noun} could be stored"},
        **error_responses(401, 403, 413, 415, 503, 507),
    }


@router.post(
    "/v1/social/posts",
    status_code=202,
    summary="Send social posts: our flat shape or X API v2 output, as a JSON object, array "
    "or NDJSON (optionally gzip)",
    response_model=None,
    responses={
        202: {"model": Accepted, "description": "Every valid post is durable; `errors` lists "
              "the others (their index counts posts: an X `data` list opens into its posts)"},
        400: {"model": NoneAccepted, "description": "No post could be stored"},
        **error_responses(401, 403, 413, 415, 503, 507),
    },
    openapi_extra={"requestBody": POSTS_BODY},
)  # fmt: skip
async def post_posts(request: Request, sender: Sender, ingest: Pipeline) -> Response:
    """202 once every valid post is on disk, enriched (sentiment, entities, engagement);
    invalid ones are listed in `errors` and kept in the dead-letter table."""
    return await _signal(request, sender, ingest, "posts")


@router.post(
    "/v1/logs",
    summary="Send application logs: v1 records (JSON object, array or NDJSON) or an OTLP/HTTP "
    "logs export (protobuf or JSON)",
    response_model=None,
    responses=_signal_responses(OtlpLogsAnswer, "record"),
    openapi_extra={"requestBody": LOGS_BODY},
)
async def post_logs(request: Request, sender: Sender, ingest: Pipeline) -> Response:
    """v1 records answer 202 (like /v1/events); OTLP exports answer 200 with an
    ExportLogsServiceResponse in the request's encoding."""
    return await _signal(request, sender, ingest, "logs")


@router.post(
    "/v1/metrics",
    summary="Send custom metrics (gauges, counters, histograms with tags): v1 points or an "
    "OTLP/HTTP metrics export (protobuf or JSON)",
    response_model=None,
    responses=_signal_responses(OtlpMetricsAnswer, "point"),
    openapi_extra={"requestBody": METRICS_BODY},
)
async def post_metrics(request: Request, sender: Sender, ingest: Pipeline) -> Response:
    """v1 points answer 202; OTLP exports 200 with an ExportMetricsServiceResponse. A
    point whose type differs from its name's is rejected."""
    return await _signal(request, sender, ingest, "metrics")


async def _signal(request: Request, sender: Grant, ingest: IngestService, kind: str) -> Response:
    content_type = request.headers.get("content-type")
    protobuf = media_type(content_type) in PROTOBUF_TYPES
    if not protobuf:
        check_content_type(content_type)
    body = await read_body(request)
    result = await ingest.ingest(
        body, content_type, request.headers.get("content-encoding"), sender.project, kind=kind
    )
    return _answer(result.answer, result.status, kind if protobuf else None)


# Each OTLP signal's protobuf answer: (response, partial success, its count's field, the
# same in OTLP/JSON).
_OTLP_ANSWERS: dict[str, tuple[Any, Any, str, str]] = {
    "traces": (ExportTraceServiceResponse, ExportTracePartialSuccess, "rejected_spans",
               "rejectedSpans"),
    "logs": (ExportLogsServiceResponse, ExportLogsPartialSuccess, "rejected_log_records",
             "rejectedLogRecords"),
    "metrics": (ExportMetricsServiceResponse, ExportMetricsPartialSuccess,
                "rejected_data_points", "rejectedDataPoints"),
}  # fmt: skip


def _answer(answer: dict[str, Any], status: int, protobuf_kind: str | None) -> Response:
    """The answer as JSON, or, to an OTLP protobuf request that succeeded, as its signal's
    Export*ServiceResponse (a partial success when some items were rejected)."""
    if status != 200 or protobuf_kind is None:
        return JsonResponse(answer, status)
    response, partial_success, count_field, json_field = _OTLP_ANSWERS[protobuf_kind]
    partial = answer.get("partialSuccess")
    message = response(
        partial_success=partial_success(
            **{count_field: partial[json_field]}, error_message=partial["errorMessage"]
        )
        if partial
        else None
    )
    return Response(message.SerializeToString(), 200, media_type="application/x-protobuf")

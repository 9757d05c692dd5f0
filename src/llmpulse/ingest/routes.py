"""HTTP ingest: POST /v1/events (v1 events), /v1/traces (OTLP/HTTP), /v1/social/posts,
/v1/logs and /v1/metrics (v1 records, or OTLP/HTTP logs and metrics)."""

from __future__ import annotations

from typing import Annotated

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
    if result.status != 200 or not protobuf:
        return JsonResponse(result.answer, result.status)
    partial = result.answer.get("partialSuccess")
    answer = ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(
            rejected_spans=partial["rejectedSpans"], error_message=partial["errorMessage"]
        )
        if partial
        else None
    )
    return Response(answer.SerializeToString(), 200, media_type="application/x-protobuf")


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
    check_content_type(request.headers.get("content-type"))
    return await _signal(request, sender, ingest, "posts")


@router.post(
    "/v1/logs",
    summary="Send application logs: v1 records (JSON object, array or NDJSON) or an OTLP/HTTP "
    "logs export (protobuf or JSON)",
    response_model=None,
    responses={
        200: {
            "model": OtlpLogsAnswer,
            "description": "OTLP: every valid record is durable; partialSuccess counts the others",
            "content": {"application/x-protobuf": BINARY},
        },
        202: {"model": Accepted, "description": "v1: every valid record is durable"},
        400: {"model": NoneAccepted, "description": "No record could be stored"},
        **error_responses(401, 403, 413, 415, 503, 507),
    },
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
    responses={
        200: {
            "model": OtlpMetricsAnswer,
            "description": "OTLP: every valid point is durable; partialSuccess counts the others",
            "content": {"application/x-protobuf": BINARY},
        },
        202: {"model": Accepted, "description": "v1: every valid point is durable"},
        400: {"model": NoneAccepted, "description": "No point could be stored"},
        **error_responses(401, 403, 413, 415, 503, 507),
    },
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
    if result.status != 200 or not protobuf:
        return JsonResponse(result.answer, result.status)
    partial = result.answer.get("partialSuccess")
    answer: ExportLogsServiceResponse | ExportMetricsServiceResponse
    if kind == "logs":
        answer = ExportLogsServiceResponse(
            partial_success=ExportLogsPartialSuccess(
                rejected_log_records=partial["rejectedLogRecords"],
                error_message=partial["errorMessage"],
            )
            if partial
            else None
        )
    else:
        answer = ExportMetricsServiceResponse(
            partial_success=ExportMetricsPartialSuccess(
                rejected_data_points=partial["rejectedDataPoints"],
                error_message=partial["errorMessage"],
            )
            if partial
            else None
        )
    return Response(answer.SerializeToString(), 200, media_type="application/x-protobuf")

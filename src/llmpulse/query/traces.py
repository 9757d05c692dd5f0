"""A whole trace: its LLM calls (llm_events) and its other spans (trace_spans), as one tree."""

from __future__ import annotations

from typing import Any

from llmpulse.query.filters import api_values, iso_ms
from llmpulse.store.engine import Engine, Param
from llmpulse.store.tables import EVENTS, SPANS

MAX_TRACE_SPANS = 5000

_COMMON = """
    toString(event_id) AS id, toUnixTimestamp64Milli(ts) AS ts_ms, span_id, parent_span_id,
    latency_ms, status, error_type, session_id, user_id
"""


def get_trace(engine: Engine, project: str, trace_id: str) -> dict[str, Any] | None:
    """Every span of the trace, oldest first; LLM calls have `type` "llm" and their model,
    tokens and cost, other spans `type` "span" with their name, kind and attributes."""
    params: dict[str, Param] = {"p": project, "t": trace_id, "limit": MAX_TRACE_SPANS}
    llm = engine.rows(
        f"SELECT {_COMMON}, model_id AS name, operation AS kind, provider, ttft_ms, tokens_in, "
        f"tokens_out, cost_usd FROM {EVENTS} WHERE project = {{p:String}} "
        "AND trace_id = {t:String} ORDER BY ts LIMIT {limit:UInt32}",
        params,
    )
    other = engine.rows(
        f"SELECT {_COMMON}, name, kind, service, error_message, input, output, attributes "
        f"FROM {SPANS} WHERE project = {{p:String}} AND trace_id = {{t:String}} "
        "ORDER BY ts LIMIT {limit:UInt32}",
        params,
    )
    if not llm and not other:
        return None
    spans = [_span("llm", row) for row in llm] + [_span("span", row) for row in other]
    spans.sort(key=lambda s: (s["ts"], s["span_id"]))
    start = min(s["ts_ms"] for s in spans)
    end = max(s["ts_ms"] + s["latency_ms"] for s in spans)
    for span in spans:
        del span["ts_ms"]
    return {
        "trace_id": trace_id,
        "start": iso_ms(start),
        "duration_ms": end - start,
        "llm_calls": len(llm),
        "errors": sum(1 for s in spans if s["status"] == "error"),
        "spans": spans,
    }


def _span(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    span = {"type": kind, "event_id": row.pop("id"), "ts": iso_ms(row["ts_ms"])}
    span.update(api_values(row))
    return span

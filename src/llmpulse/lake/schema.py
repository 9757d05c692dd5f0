"""The lake's Parquet schemas: documented in docs/lake.md and stable. A change to a layer's
columns bumps SCHEMA_VERSION (written in every file's metadata); backfill refuses a file
whose columns differ from the layer's, naming the first column that does."""

from __future__ import annotations

from typing import Final

import pyarrow as pa

SCHEMA_VERSION: Final = 1
SILVER: Final = "silver"
GOLD: Final = "gold"
BRONZE: Final = "bronze"
LAYERS: Final = (BRONZE, SILVER, GOLD)

_TS = pa.timestamp("ms", tz="UTC")
_STR = pa.string()


def _fields(spec: str, kind: pa.DataType, nullable: bool = False) -> list[pa.Field]:
    return [pa.field(name, kind, nullable) for name in spec.split()]


# llm_events as stored, one row per call, cost included (materialized helper columns and
# the store's own indexes are left out; event_id is text so every reader takes it).
SILVER_SCHEMA: Final = pa.schema(
    [
        *_fields("project", _STR),
        *_fields("ts", _TS),
        *_fields("event_id", _STR),
        *_fields("received_at", _TS),
        *_fields("source", _STR),
        *_fields(
            "model_id model_version provider prompt_version prompt_prefix_hash feature "
            "experiment_name experiment_variant operation status error_type region "
            "environment client_app client_os finish_reason user_id session_id request_id "
            "trace_id span_id parent_span_id",
            _STR,
        ),
        *_fields("latency_ms", pa.float64()),
        *_fields("ttft_ms", pa.float64(), True),
        *_fields("tokens_in tokens_out tokens_cached tokens_reasoning", pa.uint32()),
        *_fields("cost_usd", pa.float64(), True),
        *_fields("cost_source", _STR),
        *_fields("stream", pa.bool_(), True),
        *_fields("temperature", pa.float32(), True),
        *_fields("max_tokens", pa.uint32(), True),
        *_fields("http_status", pa.uint16(), True),
        *_fields("prompt completion", _STR),
        pa.field("metadata", pa.map_(_STR, _STR), False),
        pa.field("tags", pa.list_(_STR), False),
        *_fields("prompt_chars prompt_words completion_chars completion_words", pa.uint32(), True),
        *_fields("completion_sentiment completion_nonletter_share", pa.float32(), True),
        *_fields("refusal json_valid", pa.bool_(), True),
        *_fields("language", _STR),
        *_fields("inserted_at", _TS),
    ]
)

# Hourly aggregates of the calls per project, model, provider, prompt version and feature.
# Quantiles are exact for the hour; sums and counts add up across hours.
GOLD_SCHEMA: Final = pa.schema(
    [
        *_fields("project", _STR),
        *_fields("hour_start", _TS),  # not `hour`: the partition key has that name
        *_fields("model_id provider prompt_version feature", _STR),
        *_fields("requests errors unpriced", pa.uint64()),
        *_fields("tokens_in tokens_out tokens_cached tokens_reasoning", pa.uint64()),
        *_fields("cost_usd latency_sum_ms", pa.float64()),
        *_fields("latency_p50_ms latency_p95_ms latency_p99_ms latency_max_ms", pa.float64()),
        *_fields("ttft_p50_ms ttft_p95_ms", pa.float64(), True),
    ]
)

# Every event as received: accepted ones as their normalized JSON, rejected ones as sent,
# with the reasons. Partitioned by the hour received.
BRONZE_SCHEMA: Final = pa.schema(
    [
        *_fields("project", _STR),
        *_fields("received_at", _TS),
        *_fields("source", _STR),
        *_fields("accepted", pa.bool_()),
        *_fields("event_id", _STR),
        *_fields("reason payload", _STR),
        *_fields("inserted_at", _TS),
    ]
)

SCHEMAS: Final = {SILVER: SILVER_SCHEMA, GOLD: GOLD_SCHEMA, BRONZE: BRONZE_SCHEMA}
# Columns of few distinct values, dictionary-encoded; ids, text and numbers are not (their
# dictionaries would be as large as the data, and slow to build).
_PLAIN = frozenset(
    (
        *("ts", "received_at", "inserted_at", "hour_start", "event_id", "user_id"),
        *("session_id", "request_id", "trace_id", "span_id", "parent_span_id"),
        *("prompt_prefix_hash", "prompt", "completion", "payload", "reason"),
    )
)
DICTIONARY: Final = {
    layer: [f.name for f in schema if f.name not in _PLAIN and pa.types.is_string(f.type)]
    for layer, schema in SCHEMAS.items()
}
# The column each layer is partitioned by (date=, hour=).
PARTITION_TIME: Final = {SILVER: "ts", GOLD: "hour_start", BRONZE: "received_at"}


class SchemaMismatch(ValueError):
    """A Parquet file whose columns are not the layer's."""


def check_schema(found: pa.Schema, layer: str, where: str) -> None:
    """Raise SchemaMismatch naming the first column that differs from the layer's schema."""
    expected = SCHEMAS[layer]
    for field in expected:
        index = found.get_field_index(field.name)
        if index < 0:
            raise SchemaMismatch(f"{where}: column {field.name!r} is missing ({layer} schema)")
        if not found.field(index).type.equals(field.type):
            raise SchemaMismatch(
                f"{where}: column {field.name!r} is {found.field(index).type}, "
                f"the {layer} schema has {field.type}"
            )
    extra = [name for name in found.names if expected.get_field_index(name) < 0]
    if extra:
        raise SchemaMismatch(f"{where}: column {extra[0]!r} is not in the {layer} schema")

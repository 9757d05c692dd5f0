"""The `Engine` protocol: the only way our code talks to ClickHouse, embedded or remote."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

# A query parameter, bound server-side as `{name:Type}` in the SQL text.
Param = str | int | float | datetime | Sequence[str] | Sequence[int] | Sequence[float]


class StoreError(RuntimeError):
    """The store refused or failed a statement; the message is ClickHouse's."""


class Engine(Protocol):
    """ClickHouse SQL in, rows out. chDB in-process or a ClickHouse server over HTTP."""

    url: str

    def execute(self, sql: str, params: dict[str, Param] | None = None) -> None:
        """Run a statement that returns nothing (DDL, INSERT ... SELECT)."""

    def rows(self, sql: str, params: dict[str, Param] | None = None) -> list[dict[str, Any]]:
        """Run a query and return its rows as dicts (column name -> value)."""

    def insert_json_rows(self, table: str, ndjson: bytes, token: str | None = None) -> None:
        """Insert JSONEachRow data; unknown keys are ignored, nulls take the column default.
        Repeating an insert with the same `token` adds nothing to the table, nor to the
        rollups fed from it (see migration 005)."""

    def arrow(self, sql: str, params: dict[str, Param] | None = None) -> pa.Table:
        """Run a query and return its rows as an Arrow table (exports, the lake)."""

    def formatted(self, sql: str, fmt: str, params: dict[str, Param] | None = None) -> bytes:
        """Run a query and return its rows in a ClickHouse output format (CSV, JSONEachRow)."""

    def insert_arrow(self, table: str, data: pa.Table, token: str | None = None) -> None:
        """Insert an Arrow table's columns (by name) into `table`; deduplicated by `token`
        like insert_json_rows."""

    def shards(self) -> list[Engine]:
        """One engine per shard, on the shard's own tables: the place for statements a
        cluster cannot route (migrations, mutations, TTL, system tables). One node: itself."""

    def publish_tables(self) -> None:
        """After migrations: make every table queryable under its name from this engine
        (on a cluster, Distributed tables over the shards' tables)."""

    def close(self) -> None: ...


def insert_settings(token: str | None) -> dict[str, str | int]:
    """The settings of an insert: unknown keys skipped; with a token, deduplicated by it in
    the table and in every materialized view's target."""
    settings: dict[str, str | int] = {"input_format_skip_unknown_fields": 1}
    if token is not None:
        settings["insert_deduplication_token"] = token
        settings["deduplicate_blocks_in_dependent_materialized_views"] = 1
    return settings

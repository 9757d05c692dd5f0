"""A ClickHouse server or cluster over HTTP, through clickhouse-connect."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import orjson

from llmpulse.store.engine import Engine, Param, StoreError, insert_settings
from llmpulse.store.params import param_text, string_literal

if TYPE_CHECKING:
    import pyarrow as pa

# A server takes parameters as HTML form fields of at most 128 KiB
# (http_max_field_value_size, not raisable per query). Larger ones go into the query text,
# which is the request body and has no such limit once max_query_size is raised.
_LARGEST_FIELD = 64 * 1024
_SETTINGS = {"max_query_size": 268_435_456}


def inline_large_params(
    sql: str, params: dict[str, Param] | None
) -> tuple[str, dict[str, Param] | None]:
    """`sql` with each parameter too large for a form field written in as a typed literal."""
    if not params:
        return sql, params
    kept: dict[str, Param] = {}
    for name, value in params.items():
        text = param_text(value)
        if len(text) <= _LARGEST_FIELD:
            kept[name] = value
            continue
        sql = re.sub(r"\{" + re.escape(name) + r":([^}]+)\}", _cast(string_literal(text)), sql)
    return sql, kept


def _cast(literal: str) -> Callable[[re.Match[str]], str]:
    """A replacement for `{name:Type}`: the literal cast to that Type."""
    return lambda match: f"CAST({literal}, {string_literal(match[1])})"


class ClickHouseEngine:
    """One HTTP client without a session: requests from the loader, the API and the
    background tasks run concurrently (a session would allow one query at a time)."""

    def __init__(self, url: str, settings: dict[str, str | int] | None = None) -> None:
        import clickhouse_connect

        parts = urlsplit(url)
        self.url = parts._replace(netloc=f"{parts.hostname}:{parts.port or 8123}").geturl()
        self.database = parts.path.strip("/") or "default"
        try:
            self._client = clickhouse_connect.get_client(
                host=parts.hostname or "localhost",
                port=parts.port or 8123,
                username=unquote(parts.username or "default"),
                password=unquote(parts.password or ""),
                database=self.database,
                secure=parts.scheme == "clickhouses",
                autogenerate_session_id=False,
                settings={**_SETTINGS, **(settings or {})},
            )
        except Exception as exc:
            raise StoreError(f"cannot connect to ClickHouse at {self.url}: {exc}") from exc

    def execute(self, sql: str, params: dict[str, Param] | None = None) -> None:
        sql, params = inline_large_params(sql, params)
        try:
            self._client.command(sql, parameters=params)
        except Exception as exc:
            raise StoreError(str(exc)) from exc

    def rows(self, sql: str, params: dict[str, Param] | None = None) -> list[dict[str, Any]]:
        # As JSON, like chDB: the same query gives the same Python values on either engine
        # (dates as ISO text, not date objects).
        data = self.formatted(sql, "JSONEachRow", params)
        return [orjson.loads(line) for line in data.splitlines()] if data else []

    def insert_json_rows(self, table: str, ndjson: bytes, token: str | None = None) -> None:
        try:
            self._client.raw_insert(
                table, insert_block=ndjson, fmt="JSONEachRow", settings=insert_settings(token)
            )
        except Exception as exc:
            raise StoreError(str(exc)) from exc

    def arrow(self, sql: str, params: dict[str, Param] | None = None) -> pa.Table:
        sql, params = inline_large_params(sql, params)
        try:
            table: pa.Table = self._client.query_arrow(sql, parameters=params)
        except Exception as exc:
            raise StoreError(str(exc)) from exc
        return table

    def formatted(self, sql: str, fmt: str, params: dict[str, Param] | None = None) -> bytes:
        sql, params = inline_large_params(sql, params)
        try:
            data: bytes = self._client.raw_query(sql, parameters=params, fmt=fmt)
        except Exception as exc:
            raise StoreError(str(exc)) from exc
        return data

    def insert_arrow(self, table: str, data: pa.Table, token: str | None = None) -> None:
        try:
            self._client.insert_arrow(table, data, settings=insert_settings(token))
        except Exception as exc:
            raise StoreError(str(exc)) from exc

    def shards(self) -> list[Engine]:
        return [self]

    def publish_tables(self) -> None:
        """One node: the migrated tables are the ones queried."""

    def close(self) -> None:
        self._client.close()

"""A ClickHouse server or cluster over HTTP, through clickhouse-connect."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from llmpulse.store.engine import Param, StoreError, insert_settings

if TYPE_CHECKING:
    import pyarrow as pa


class ClickHouseEngine:
    def __init__(self, url: str) -> None:
        import clickhouse_connect

        parts = urlsplit(url)
        self.url = parts._replace(netloc=parts.hostname or "").geturl()
        try:
            self._client = clickhouse_connect.get_client(
                host=parts.hostname or "localhost",
                port=parts.port or 8123,
                username=unquote(parts.username or "default"),
                password=unquote(parts.password or ""),
                database=parts.path.strip("/") or "default",
                secure=parts.scheme == "clickhouses",
            )
        except Exception as exc:
            raise StoreError(f"cannot connect to ClickHouse at {self.url}: {exc}") from exc

    def execute(self, sql: str, params: dict[str, Param] | None = None) -> None:
        try:
            self._client.command(sql, parameters=params)
        except Exception as exc:
            raise StoreError(str(exc)) from exc

    def rows(self, sql: str, params: dict[str, Param] | None = None) -> list[dict[str, Any]]:
        try:
            result = self._client.query(sql, parameters=params)
        except Exception as exc:
            raise StoreError(str(exc)) from exc
        return list(result.named_results())

    def insert_json_rows(self, table: str, ndjson: bytes, token: str | None = None) -> None:
        try:
            self._client.raw_insert(
                table, insert_block=ndjson, fmt="JSONEachRow", settings=insert_settings(token)
            )
        except Exception as exc:
            raise StoreError(str(exc)) from exc

    def arrow(self, sql: str, params: dict[str, Param] | None = None) -> pa.Table:
        try:
            table: pa.Table = self._client.query_arrow(sql, parameters=params)
        except Exception as exc:
            raise StoreError(str(exc)) from exc
        return table

    def formatted(self, sql: str, fmt: str, params: dict[str, Param] | None = None) -> bytes:
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

    def close(self) -> None:
        self._client.close()

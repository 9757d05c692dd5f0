"""The store: ClickHouse SQL behind the `Engine` protocol (chDB in-process or a server)."""

from __future__ import annotations

from pathlib import Path

from llmpulse.store.engine import Engine, StoreError


def open_engine(url: str) -> Engine:
    """`chdb://PATH` (embedded, the default), `clickhouse://user:pass@host:8123/db`, or a
    cluster: `clickhouse://host:8123/db?cluster=NAME`."""
    if url.startswith("chdb://"):
        from llmpulse.store.chdb_engine import ChdbEngine

        return ChdbEngine(Path(url.removeprefix("chdb://")).expanduser())
    if url.startswith(("clickhouse://", "clickhouses://")):
        from llmpulse.store.cluster_engine import ClusterEngine, cluster_of

        cluster = cluster_of(url)
        if cluster:
            return ClusterEngine(url, cluster)
        from llmpulse.store.clickhouse_engine import ClickHouseEngine

        return ClickHouseEngine(url)
    raise StoreError(
        f"unknown store URL {url!r}: use chdb://PATH or clickhouse://HOST:PORT/DB[?cluster=NAME]"
    )


__all__ = ["Engine", "StoreError", "open_engine"]

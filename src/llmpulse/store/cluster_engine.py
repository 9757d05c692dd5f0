"""A ClickHouse cluster: `clickhouse://host:8123/db?cluster=NAME`.

Each shard keeps the tables the migrations create (MergeTree, rollups, their materialized
views) in its database `DB_local`; every node has, in `DB`, a Distributed table of the
same name over them. Queries and inserts go to the Distributed tables, so the SQL is the
one a single node runs. There is no ON CLUSTER (it needs Keeper): the migrator walks the
shards it reads from `system.clusters`, and so do mutations, TTL changes and the reads of
system tables (`shards()`).

Rows are sharded so that what must meet does: calls, spans, posts, logs and metric points
by (project, event_id), so a retried or replayed event lands on the shard that has it;
tables whose engine merges rows by key (Replacing, Summing, Aggregating) by that key.
Inserts wait until every shard has its rows (`distributed_foreground_insert`), so an
acknowledged insert is stored, and keep their deduplication token per shard.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from llmpulse.store.clickhouse_engine import ClickHouseEngine
from llmpulse.store.engine import Engine, StoreError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CLUSTER_SETTINGS: dict[str, str | int] = {
    "distributed_foreground_insert": 1,
    # A subquery over a Distributed table inside a query over one: run once, sent to all.
    "distributed_product_mode": "global",
}
_KEYED_ENGINES = ("ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree")


def cluster_of(url: str) -> str | None:
    """The `cluster=` of a store URL, if any."""
    values = parse_qs(urlsplit(url).query).get("cluster")
    return values[0] if values else None


def sharding_key(engine: str, sorting_key: str, columns: set[str]) -> str:
    """The expression Distributed inserts shard a table's rows by."""
    if engine not in _KEYED_ENGINES and {"project", "event_id"} <= columns:
        return "cityHash64(project, event_id)"
    return f"cityHash64({sorting_key})" if sorting_key else "rand()"


class ClusterEngine(ClickHouseEngine):
    def __init__(self, url: str, cluster: str) -> None:
        parts = urlsplit(url)
        super().__init__(parts._replace(query="").geturl(), _CLUSTER_SETTINGS)
        self.url = f"{self.url}?cluster={cluster}"
        if not _NAME.fullmatch(cluster) or not _NAME.fullmatch(self.database):
            raise StoreError(f"cluster and database names must be identifiers: {self.url}")
        self.cluster = cluster
        self.local_database = f"{self.database}_local"
        self._credentials = parts.netloc.rpartition("@")[0]
        self._scheme = parts.scheme
        self._shards = self._open_shards()

    def _open_shards(self) -> list[ClickHouseEngine]:
        """An engine on each shard's `DB_local`, reached over HTTP at the port that shard
        itself reports (system.clusters lists only native ports)."""
        hosts = self.rows(
            "SELECT shard_num, host_address FROM system.clusters "
            "WHERE cluster = {c:String} AND replica_num = 1 ORDER BY shard_num",
            {"c": self.cluster},
        )
        if not hosts:
            clusters = self.rows("SELECT DISTINCT cluster FROM system.clusters")
            known = [r["cluster"] for r in clusters]
            raise StoreError(
                f"no cluster {self.cluster!r} on {self.url}: the server has "
                f"{', '.join(sorted(known)) or 'no clusters'} (remote_servers in its config)"
            )
        ports = {
            r["shard"]: r["port"]
            for r in self.rows(
                "SELECT _shard_num AS shard, getServerPort('http_port') AS port "
                f"FROM cluster('{self.cluster}', system.one)"
            )
        }
        shards = []
        auth = f"{self._credentials}@" if self._credentials else ""
        for host in hosts:
            node = f"{self._scheme}://{auth}{host['host_address']}:{ports[host['shard_num']]}"
            setup = ClickHouseEngine(f"{node}/default")
            for database in (self.database, self.local_database):
                setup.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
            setup.close()
            shards.append(ClickHouseEngine(f"{node}/{self.local_database}"))
        return shards

    def shards(self) -> list[Engine]:
        return list(self._shards)

    def publish_tables(self) -> None:
        """A Distributed table on every node for each shard table, (re)made when missing or
        when a migration changed the table's columns."""
        local = self._shards[0]
        tables = local.rows(
            "SELECT name, engine, sorting_key FROM system.tables WHERE database = "
            "currentDatabase() AND engine LIKE '%MergeTree' AND name != 'schema_migrations'"
        )
        columns = _columns(local, self.local_database)
        for node in self._shards:
            published = _columns(node, self.database)
            for table in tables:
                name = table["name"]
                if published.get(name) == columns[name]:
                    continue
                key = sharding_key(table["engine"], table["sorting_key"], set(columns[name]))
                node.execute(
                    f"CREATE OR REPLACE TABLE {self.database}.{name} AS "
                    f"{self.local_database}.{name} ENGINE = Distributed({self.cluster}, "
                    f"{self.local_database}, {name}, {key})"
                )

    def close(self) -> None:
        for shard in self._shards:
            shard.close()
        super().close()


def _columns(engine: Engine, database: str) -> dict[str, list[str]]:
    """Each table's columns (name and type, in order) in `database` on `engine`'s node."""
    rows = engine.rows(
        "SELECT table, groupArray(concat(name, ' ', type)) AS columns FROM "
        "(SELECT table, name, type FROM system.columns WHERE database = {d:String} "
        "ORDER BY table, position) GROUP BY table",
        {"d": database},
    )
    return {r["table"]: r["columns"] for r in rows}

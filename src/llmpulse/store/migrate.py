"""Versioned, idempotent migrations: `migrations/NNN_name.sql`, applied in order at start."""

from __future__ import annotations

import re
from importlib import resources

from llmpulse.store.engine import Engine

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations
(version UInt32, name String, applied_at DateTime DEFAULT now())
ENGINE = MergeTree ORDER BY version
"""


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("llmpulse.store.migrations").iterdir():
        match = re.fullmatch(r"(\d+)_(\w+)\.sql", entry.name)
        if match:
            found.append((int(match[1]), match[2], entry.read_text()))
    return sorted(found)


def migrate(engine: Engine) -> list[str]:
    """Apply the migrations the store has not seen, on each shard, then publish its tables;
    returns the names of those applied (on any shard)."""
    applied: set[str] = set()
    for shard in engine.shards():
        applied.update(_migrate_node(shard))
    engine.publish_tables()
    return sorted(applied)


def _migrate_node(engine: Engine) -> list[str]:
    engine.execute(_VERSION_TABLE)
    # Views detached by a crash test stay so on a server until attached (chDB re-attaches
    # them when the store is opened again).
    for view in engine.rows(
        "SELECT table FROM system.detached_tables WHERE database = currentDatabase()"
    ):
        engine.execute(f"ATTACH TABLE {view['table']}")
    done = {r["version"] for r in engine.rows("SELECT version FROM schema_migrations")}
    applied = []
    for version, name, sql in _migrations():
        if version in done:
            continue
        for statement in (s.strip() for s in sql.split(";")):
            if statement and not all(line.startswith("--") for line in statement.splitlines()):
                engine.execute(statement)
        engine.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
            {"v": version, "n": name},
        )
        applied.append(f"{version:03d}_{name}")
    return applied

"""Retention by ClickHouse TTL, per project: rows expire in the store itself, so it holds on
a ClickHouse server as on chDB. Each table belongs to a class (raw calls, rollups, dead
letters); a project's own periods are TTL rules `WHERE project IN (...)`, every other
project keeps the server's default. Changing a TTL applies to the rows already stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from llmpulse.store import tables
from llmpulse.store.engine import Engine
from llmpulse.store.params import string_literal

RAW: Final = "raw"
ROLLUPS: Final = "rollups"
REJECTED: Final = "rejected"
CLASSES: Final = (RAW, ROLLUPS, REJECTED)
# Each table with rows that expire: its class and its time column.
RETAINED: Final = {
    tables.EVENTS: (RAW, "ts"),
    tables.SPANS: (RAW, "ts"),
    tables.SCORES: (RAW, "ts"),
    tables.POSTS: (RAW, "ts"),
    tables.LOGS: (RAW, "ts"),
    tables.METRICS: (RAW, "ts"),
    tables.REJECTED: (REJECTED, "received_at"),
    tables.ROLLUP_1H: (ROLLUPS, "hour"),
    tables.DIMENSION_ROLLUP_1H: (ROLLUPS, "hour"),
    tables.COST_ROLLUP_1H: (ROLLUPS, "hour"),
    tables.DUPLICATES: (ROLLUPS, "hour"),
    tables.POSTS_ROLLUP_1H: (ROLLUPS, "hour"),
    tables.TAGS_ROLLUP_1H: (ROLLUPS, "hour"),
    tables.ALERT_EVENTS: (ROLLUPS, "ts"),
    tables.ALERT_DELIVERIES: (ROLLUPS, "ts"),
}


@dataclass(frozen=True)
class Periods:
    """Days kept per class; None: the server's default."""

    raw: int | None = None
    rollups: int | None = None
    rejected: int | None = None

    def days(self, kind: str) -> int | None:
        value: int | None = getattr(self, kind)
        return value


def ttl_expression(column: str, kind: str, default_days: int, projects: dict[str, Periods]) -> str:
    """The table's TTL: one rule per distinct period of the projects that set one, then the
    default for every other project."""
    by_days: dict[int, list[str]] = {}
    for project, periods in sorted(projects.items()):
        days = periods.days(kind)
        if days is not None and days != default_days:
            by_days.setdefault(days, []).append(project)
    rule = f"toDateTime({column}) + toIntervalDay({{days}})"
    if not by_days:
        return rule.format(days=default_days)
    rules = []
    for days, names in sorted(by_days.items()):
        listed = ", ".join(string_literal(n) for n in names)
        rules.append(f"{rule.format(days=days)} WHERE project IN ({listed})")
    custom = ", ".join(string_literal(n) for names in by_days.values() for n in names)
    rules.append(f"{rule.format(days=default_days)} WHERE project NOT IN ({custom})")
    return ", ".join(rules)


def apply_retention(engine: Engine, default_days: int, projects: dict[str, Periods]) -> None:
    """Set each table's TTL on each shard, only where it changed (a change rewrites the TTL
    of every part)."""
    for table, (kind, column) in RETAINED.items():
        ttl = ttl_expression(column, kind, default_days, projects)
        for shard in engine.shards():
            current = shard.rows(
                "SELECT create_table_query AS q FROM system.tables "
                "WHERE database = currentDatabase() AND name = {t:String}",
                {"t": table},
            )
            if current and _ttl_of(current[0]["q"]) == ttl:
                continue
            shard.execute(f"ALTER TABLE {table} MODIFY TTL {ttl}")


def _ttl_of(create_query: str) -> str:
    """The TTL clause of a table's CREATE statement, as ClickHouse shows it."""
    _, _, rest = create_query.partition(" TTL ")
    return rest.split(" SETTINGS ", 1)[0]

"""Size of the stored data, for /health and capacity planning."""

from __future__ import annotations

from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS


def events_on_disk(engine: Engine) -> dict[str, int]:
    """Rows and bytes on disk of the events table (all projects, active parts, all shards)."""
    total = {"events": 0, "bytes_on_disk": 0}
    for shard in engine.shards():
        row = shard.rows(
            "SELECT sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts "
            "WHERE active AND database = currentDatabase() AND table = {t:String}",
            {"t": EVENTS},
        )[0]
        total["events"] += int(row["rows"] or 0)
        total["bytes_on_disk"] += int(row["bytes"] or 0)
    return total

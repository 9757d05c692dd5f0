"""The ingest pipeline's crash points (see store/faults.py):

- `events-before-rollups`: an insert's rows are in `llm_events` but not yet in the rollups
  its materialized views feed (they are detached for that insert, until the restart);
- `before-commit`: every table has the run's rows, the spool checkpoint has not moved;
- `before-ack`: (bus loader) every table has the run's rows, the bus has not been told.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from llmpulse.store.engine import Engine
from llmpulse.store.faults import crash_point, reached
from llmpulse.store.tables import EVENTS
from llmpulse.store.writes import detach_materialized_views

__all__ = ["around_insert", "reached"]


@contextmanager
def around_insert(engine: Engine, table: str) -> Iterator[None]:
    between = crash_point() == "events-before-rollups" and table == EVENTS
    if between:
        detach_materialized_views(engine)
    yield
    if between:
        reached("events-before-rollups")

"""Crash points for the durability tests: with `LLMPULSE_CRASH_AT=POINT` the server dies at
POINT (os._exit, as kill -9 would) the first time it gets there. Unset, nothing happens.

- `events-before-rollups`: an insert's rows are in `llm_events` but not yet in the rollups
  its materialized views feed (they are detached for that insert, until the restart);
- `before-commit`: every table has the run's rows, the spool checkpoint has not moved.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS
from llmpulse.store.writes import detach_materialized_views

_CRASH_AT = os.environ.get("LLMPULSE_CRASH_AT", "")


def reached(point: str) -> None:
    if point == _CRASH_AT:
        os._exit(137)


@contextmanager
def around_insert(engine: Engine, table: str) -> Iterator[None]:
    between = _CRASH_AT == "events-before-rollups" and table == EVENTS
    if between:
        detach_materialized_views(engine)
    yield
    if between:
        reached(_CRASH_AT)

"""Crash points for the durability tests: with `LLMPULSE_CRASH_AT=POINT` the process dies at
POINT (os._exit, as kill -9 would) the first time it gets there. Unset, nothing happens.
The points are listed where they are used (ingest/faults.py, lake/export.py)."""

from __future__ import annotations

import os

_CRASH_AT = os.environ.get("LLMPULSE_CRASH_AT", "")


def crash_point() -> str:
    return _CRASH_AT


def reached(point: str) -> None:
    if point == _CRASH_AT:
        os._exit(137)

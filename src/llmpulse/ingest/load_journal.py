"""The loader's note of the insert under way, so that a crash is followed by the same insert.

Before inserting a run of spooled records, the loader writes down (fsync'd) where the run
starts and ends in the spool, the rows it drops as already stored, and a fresh
deduplication token. After a crash it rebuilds the run from the same records, drops the
same rows, and inserts with the same token: each table, and each rollup fed from it,
keeps the rows once, whichever of them the interrupted insert had reached.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from llmpulse.ingest.spool import Cursor


@dataclass(frozen=True)
class Insert:
    token: str
    start: Cursor
    end: Cursor
    drops: dict[str, list[int]]  # record kind -> indexes of its rows left out

    @classmethod
    def new(cls, start: Cursor, end: Cursor, drops: dict[str, list[int]]) -> Insert:
        return cls(uuid.uuid4().hex, start, end, drops)


class LoadJournal:
    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, insert: Insert) -> None:
        """Durably, and whole or not at all (written aside, then renamed)."""
        body = orjson.dumps(
            {
                "token": insert.token,
                "start": [insert.start.segment, insert.start.offset],
                "end": [insert.end.segment, insert.end.offset],
                "drops": insert.drops,
            }
        )
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self, checkpoint: Cursor) -> Insert | None:
        """The insert that was under way at `checkpoint`, if any (one whose run was then
        committed is done, whatever the journal still says)."""
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        insert = Insert(data["token"], Cursor(*data["start"]), Cursor(*data["end"]), data["drops"])
        return insert if insert.start == checkpoint else None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

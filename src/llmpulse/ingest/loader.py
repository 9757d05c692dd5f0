"""The loader: moves spooled batches into the store in large inserts, exactly once.

It is the only writer of the store's tables. For each run of records it leaves out rows
whose event_id is already stored (client retries) or repeated within the run, notes the
insert in the load journal (load_journal.py), inserts with the journal's deduplication
token, then moves the spool checkpoint. A crash anywhere in between repeats the same
insert with the same token: every table and rollup takes the run's rows once.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import orjson

from llmpulse.ingest import faults, records
from llmpulse.ingest.genai_metrics import GENAI, Call
from llmpulse.ingest.load_journal import Insert, LoadJournal
from llmpulse.ingest.spool import Cursor, Spool
from llmpulse.ingest.telemetry import PIPELINE
from llmpulse.store.engine import Engine
from llmpulse.store.tables import DUPLICATES, EVENTS, LOGS, METRICS, POSTS, REJECTED, SPANS
from llmpulse.store.writes import stored_event_ids

log = logging.getLogger(__name__)
# A retried event whose ts the server assigned is recognised within this window.
RECEIVED_TS_WINDOW_MS = 24 * 3600 * 1000


# The table each kind of spool record loads into; kinds with keys are deduplicated.
_TABLES = {
    records.EVENTS: EVENTS,
    records.SPANS: SPANS,
    records.REJECTED: REJECTED,
    records.POSTS: POSTS,
    records.LOGS: LOGS,
    records.METRICS: METRICS,
}


@dataclass
class _Rows:
    """One table's rows of a run, for one insert."""

    chunks: list[bytes] = field(default_factory=list)
    keys: list[records.EventKey] = field(default_factory=list)
    calls: list[Call | None] = field(default_factory=list)  # events: one per row


@dataclass
class Run:
    """Records loaded in one insert per table, grouped by table."""

    tables: dict[bytes, _Rows] = field(default_factory=lambda: defaultdict(_Rows))
    records: int = 0
    size: int = 0
    end: Cursor | None = None  # spool runs: just past the last record

    def add(self, payload: bytes) -> None:
        """One spool record (records.py); raises ValueError if it cannot be decoded."""
        try:
            record = records.decode(payload)
            rows = self.tables[record.kind]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"not a batch of this version: {exc}") from exc
        if record.kind not in _TABLES:
            raise ValueError(f"unknown record kind {record.kind!r}")
        rows.chunks.append(record.rows)
        rows.keys.extend(record.keys)
        if record.kind == records.EVENTS:
            rows.calls.extend(record.calls or [None] * len(record.keys))
        self.records += 1
        self.size += len(payload)


def duplicates(engine: Engine, run: Run) -> dict[str, list[int]]:
    """Per kind, the indexes of the run's rows already stored or repeated within the run."""
    return {
        kind.decode(): sorted(_duplicates(engine, _TABLES[kind], rows))
        for kind, rows in run.tables.items()
        if kind != records.REJECTED
    }


def insert_run(engine: Engine, run: Run, drops: dict[str, list[int]], token: str) -> None:
    """Insert the run's rows but the dropped ones, each table under `token` (a repeat of the
    same insert adds nothing), and count them."""
    started = time.perf_counter()
    for kind, rows in run.tables.items():
        data = _without(rows, drops.get(kind.decode(), ()))
        if data:
            with faults.around_insert(engine, _TABLES[kind]):
                engine.insert_json_rows(_TABLES[kind], data, token)
    PIPELINE.insert_seconds.observe(time.perf_counter() - started)
    if records.EVENTS in run.tables:
        events, dropped = run.tables[records.EVENTS], drops.get(records.EVENTS.decode())
        _count_calls(events, dropped or ())
        if dropped:
            engine.insert_json_rows(
                DUPLICATES, _duplicate_counts(events, dropped), token + ":duplicates"
            )


class SpoolDrainer(ABC):
    """A background task (see server/tasks.py) that empties the spool, a run per step:
    into the store (Loader) or onto the bus (forwarder.Forwarder)."""

    name: str

    def __init__(
        self,
        spool: Spool,
        max_bytes: int = 64 << 20,
        idle_wait_s: float = 0.2,
        min_interval_s: float = 1.0,
    ) -> None:
        self._spool = spool
        self._max_bytes = max_bytes
        self._idle_wait_s = idle_wait_s
        self._min_interval_s = min_interval_s
        self.wake = threading.Event()
        self._waiting: list[tuple[int, Callable[[], None]]] = []
        self._waiting_lock = threading.Lock()

    @abstractmethod
    def load_once(self) -> int:
        """Move one run of spooled records on; returns how many records it moved."""

    def notify(self) -> None:
        """A record was appended: move it soon."""
        self.wake.set()

    def after_loaded(self, then: Callable[[], None]) -> None:
        """Call `then` (in the task's thread: keep it short) once every record spooled by
        now has left the spool."""
        with self._waiting_lock:
            self._waiting.append((self._spool.appended, then))
        self.wake.set()

    def _call_waiting(self) -> None:
        with self._waiting_lock:
            due = [then for after, then in self._waiting if self._spool.loaded >= after]
            self._waiting = [w for w in self._waiting if self._spool.loaded < w[0]]
        for then in due:
            then()

    def lag_seconds(self) -> float:
        return self._spool.oldest_pending_age()

    def step(self) -> float:
        started = time.time()
        self._call_waiting()
        if not self.load_once():
            return self._idle_wait_s
        # Under steady traffic, move a run about once a second: each insert makes a part
        # that ClickHouse later merges, and few large parts merge cheaply. A quiet stream
        # still moves at once (the pause follows a run), and a backlog is worked off
        # without pauses.
        if self._spool.pending()[1] >= self._max_bytes:
            return 0.0
        return max(0.0, self._min_interval_s - (time.time() - started))

    def drain(self) -> None:
        """Move what is spooled, at shutdown; what cannot be moved now stays spooled (it
        is durable) and moves at the next start."""
        try:
            while self.load_once():
                pass
        except Exception as exc:
            log.warning("stopping with %d batches still spooled: %s", self._spool.pending()[0], exc)


class Loader(SpoolDrainer):
    """Spooled runs into the store, exactly once (see the module's docstring)."""

    name = "loader"

    def __init__(self, spool: Spool, engine: Engine, max_bytes: int = 64 << 20) -> None:
        super().__init__(spool, max_bytes)
        self._engine = engine
        self._journal = LoadJournal(spool.directory / "loading.json")

    def load_once(self) -> int:
        """Load one run of spooled records; returns how many records it loaded."""
        start = self._spool.checkpoint
        insert = self._journal.pending(start)
        if insert is not None:  # interrupted: the same rows again, under the same token
            run = self._read(start, insert.end)
            log.info("repeating an interrupted insert of %d spooled batches", run.records)
        else:
            run = self._read(start)
            if run.end is None:
                return 0
            insert = Insert.new(start, run.end, duplicates(self._engine, run))
            self._journal.write(insert)
        insert_run(self._engine, run, insert.drops, insert.token)
        faults.reached("before-commit")
        self._spool.commit(insert.end, run.records, run.size)
        self._journal.clear()
        return run.records

    def _read(self, start: Cursor, end: Cursor | None = None) -> Run:
        """The records from `start` (to `end`, or as many as one run takes)."""
        run = Run()
        limit = self._max_bytes if end is None else 1 << 62
        for cursor, payload in self._spool.read(start, limit, end):
            run.add(payload)
            run.end = cursor
        return run


def _duplicates(engine: Engine, table: str, run: _Rows) -> set[int]:
    """Indexes of the run's rows already stored or repeated within the run."""
    # Group first occurrences by project: (index, event_id, ts_ms, ts_defaulted).
    by_project: dict[str, list[tuple[int, str, int, bool]]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    drop: set[int] = set()
    for i, (project, event_id, ts_ms, defaulted) in enumerate(run.keys):
        if (project, event_id) in seen:
            drop.add(i)
        else:
            seen.add((project, event_id))
            by_project[project].append((i, event_id, ts_ms, defaulted))
    for project, keys in by_project.items():
        stored = _stored(engine, table, project, keys)
        if stored:
            drop.update(i for i, event_id, _, _ in keys if event_id in stored)
    PIPELINE.duplicates.inc(len(drop))
    return drop


def _stored(
    engine: Engine, table: str, project: str, keys: list[tuple[int, str, int, bool]]
) -> set[str]:
    """Event ids among `keys` that the store already has for the project."""
    stored: set[str] = set()
    for defaulted in (False, True):
        ids = [k[1] for k in keys if k[3] is defaulted]
        if not ids:
            continue
        stamps = [k[2] for k in keys if k[3] is defaulted]
        since = min(stamps) - RECEIVED_TS_WINDOW_MS if defaulted else None
        stored |= stored_event_ids(engine, table, project, ids, stamps, since_ms=since)
    return stored


def _count_calls(rows: _Rows, drop: Collection[int]) -> None:
    """The stored calls (those not dropped as duplicates) into the GenAI metrics."""
    dropped = set(drop)
    by_project: dict[str, list[Call]] = defaultdict(list)
    for i, (key, call) in enumerate(zip(rows.keys, rows.calls, strict=True)):
        if call is not None and i not in dropped:
            by_project[key[0]].append(call)
    for project, calls in by_project.items():
        GENAI.add(project, calls)


def _duplicate_counts(rows: _Rows, drop: Collection[int]) -> bytes:
    """Rows of ingest_duplicates: the dropped retries per project and hour of their time."""
    counts: Counter[tuple[str, int]] = Counter()
    for i in drop:
        project, _, ts_ms, _ = rows.keys[i]
        counts[project, ts_ms // 3_600_000 * 3600] += 1
    return b"".join(
        orjson.dumps({"project": p, "hour": hour, "duplicates": n}) + b"\n"
        for (p, hour), n in sorted(counts.items())
    )


def _without(rows: _Rows, drop: Collection[int]) -> bytes:
    """The rows' NDJSON minus the lines at the `drop` indexes."""
    if not drop:
        return b"".join(rows.chunks)
    dropped = set(drop)
    lines = [line for chunk in rows.chunks for line in chunk.splitlines(keepends=True)]
    return b"".join(line for i, line in enumerate(lines) if i not in dropped)

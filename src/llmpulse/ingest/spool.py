"""The spool: a write-ahead log of accepted batches, fsync'd before a request is acknowledged.

Records are appended to numbered segment files. Each record is a header (magic, length,
CRC-32) and a payload; a torn record at the tail (a crash mid-write, never acknowledged) is
cut off on open. The loader reads records from a checkpoint (segment, offset) that it moves
forward only after the store has the data; fully loaded segments are deleted.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_HEADER = struct.Struct("<2sII")  # magic, payload length, crc32 of payload
_MAGIC = b"LP"
_SEGMENT_GLOB = "segment-*.log"


class SpoolInUseError(ValueError):
    """Another process has this spool open."""


@dataclass(frozen=True)
class Cursor:
    segment: int
    offset: int


def _segment_name(number: int) -> str:
    return f"segment-{number:010d}.log"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, directory: Path, segment_bytes: int = 64 << 20) -> None:
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        # One writer per spool: a second server on the same data dir would corrupt it.
        self._lock_file = open(directory / "lock", "w")  # noqa: SIM115 - held while open
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise SpoolInUseError(
                f"{directory} is in use by another llmpulse process; "
                "stop it or use another --data-dir"
            ) from None
        self._checkpoint_path = directory / "checkpoint"
        self.checkpoint = self._read_checkpoint()
        segments = self._segments()
        self._current = max(segments, default=self.checkpoint.segment)
        path = directory / _segment_name(self._current)
        if path.exists():
            self._truncate_torn_tail(path)
        self._file = open(path, "ab")  # noqa: SIM115 - kept open for appends
        _fsync_dir(directory)
        # When each pending record was appended (records left from before a restart count
        # from now), for the loader's lag; and their total payload size.
        self._append_times: deque[float] = deque()
        self._pending_bytes = 0
        for _, payload in self.read(self.checkpoint, max_bytes=1 << 62):
            self._append_times.append(time.time())
            self._pending_bytes += len(payload)

    # -- writing ------------------------------------------------------------------------

    def append(self, payload: bytes) -> None:
        """Append one record and fsync it; when this returns, the record survives a crash."""
        record = _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self._file.tell() > 0 and self._file.tell() + len(record) > self._segment_bytes:
                self._rotate()
            self._file.write(record)
            self._file.flush()
            os.fsync(self._file.fileno())
            self._append_times.append(time.time())
            self._pending_bytes += len(payload)

    def _rotate(self) -> None:
        self._file.close()
        self._current += 1
        self._file = open(self.directory / _segment_name(self._current), "ab")  # noqa: SIM115
        _fsync_dir(self.directory)

    # -- reading ------------------------------------------------------------------------

    def read(self, start: Cursor, max_bytes: int) -> Iterator[tuple[Cursor, bytes]]:
        """Records after `start`, each with the cursor just past it; stops near max_bytes."""
        with self._lock:
            end = Cursor(self._current, self._file.tell())
        total = 0
        for number in self._segments():
            if number < start.segment or number > end.segment:
                continue
            offset = start.offset if number == start.segment else 0
            limit = end.offset if number == end.segment else None
            with open(self.directory / _segment_name(number), "rb") as f:
                f.seek(offset)
                for payload in _records(f, limit):
                    offset += _HEADER.size + len(payload)
                    total += len(payload)
                    yield Cursor(number, offset), payload
                    if total >= max_bytes:
                        return
            if number < end.segment:
                start = Cursor(number + 1, 0)

    def commit(self, cursor: Cursor, records: int, size: int) -> None:
        """Record that everything before `cursor` (`records` records of `size` payload
        bytes since the last commit) is in the store; drop loaded segments."""
        tmp = self._checkpoint_path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(f"{cursor.segment} {cursor.offset}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._checkpoint_path)
        _fsync_dir(self.directory)
        self.checkpoint = cursor
        with self._lock:
            for _ in range(records):
                self._append_times.popleft()
            self._pending_bytes -= size
        for number in self._segments():
            if number < cursor.segment:
                (self.directory / _segment_name(number)).unlink(missing_ok=True)

    def pending(self) -> tuple[int, int]:
        """(records, payload bytes) appended but not yet loaded into the store."""
        with self._lock:
            return len(self._append_times), self._pending_bytes

    def oldest_pending_age(self) -> float:
        """Seconds since the oldest record not yet loaded was appended; 0 when none is."""
        with self._lock:
            return time.time() - self._append_times[0] if self._append_times else 0.0

    def close(self) -> None:
        with self._lock:
            self._file.close()
        self._lock_file.close()

    # -- helpers ------------------------------------------------------------------------

    def _segments(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.directory.glob(_SEGMENT_GLOB))

    def _read_checkpoint(self) -> Cursor:
        try:
            segment, offset = self._checkpoint_path.read_text().split()
            return Cursor(int(segment), int(offset))
        except FileNotFoundError:
            return Cursor(min(self._segments(), default=0), 0)

    def _truncate_torn_tail(self, path: Path) -> None:
        good = 0
        with open(path, "rb") as f:
            for payload in _records(f, None):
                good += _HEADER.size + len(payload)
        if good != path.stat().st_size:
            with open(path, "r+b") as f:
                f.truncate(good)
                os.fsync(f.fileno())


def _records(f: BinaryIO, limit: int | None) -> Iterator[bytes]:
    """Whole, intact records from the file's position, up to byte `limit`."""
    while limit is None or f.tell() < limit:
        header = f.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        magic, length, crc = _HEADER.unpack(header)
        payload = f.read(length)
        if magic != _MAGIC or len(payload) < length or zlib.crc32(payload) != crc:
            return
        yield payload

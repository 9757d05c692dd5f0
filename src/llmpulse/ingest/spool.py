"""The spool: a write-ahead log of accepted batches, fsync'd before a request is acknowledged.

Records are appended to numbered segment files. Each record is a header (magic, length,
CRC-32) and a payload. The loader reads records from a checkpoint (segment, offset) that
it moves forward only after the store has the data; fully loaded segments are deleted.

Appends from concurrent requests share fsyncs (group commit): a request waits for one
fsync that covers its record, not for one of its own. A write or fsync that fails (a full
disk) is an error to the caller, never an acknowledgement: a failed write is cut off
again, and after a failed fsync the spool moves to a new segment, since the old file's
state is unknown. Writes stop short of the last RESERVE_BYTES of free space: the loader's
checkpoint and journal go in the same directory, and they are what frees space again (a
spool that filled its disk to the last byte could never drain). Reading resynchronises
past a damaged record (a torn write, a crash), so nothing written after it is lost; on
open only bytes after the last intact record are cut.
"""

from __future__ import annotations

import errno
import fcntl
import logging
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

log = logging.getLogger(__name__)
_HEADER = struct.Struct("<2sII")  # magic, payload length, crc32 of payload
_MAGIC = b"LP"
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT  # not O_APPEND: records go where `_end` says
_SEGMENT_GLOB = "segment-*.log"
RESERVE_BYTES = 256 << 10  # room kept for the loader's checkpoint and journal


class SpoolInUseError(ValueError):
    """Another process has this spool open."""


class SpoolWriteError(OSError):
    """A record could not be made durable; nothing of it was acknowledged."""

    @property
    def disk_full(self) -> bool:
        return self.errno in (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True, order=True)
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
        self._end = _cut_after_last_record(path) if path.exists() else 0
        self._fd = os.open(path, _WRITE_FLAGS, 0o644)
        self._retired: list[int] = []  # rotated-out descriptors, closed after an fsync
        _fsync_dir(directory)
        # Group commit: records are numbered as written; `_synced` is the last one an
        # fsync covered, `_failed` the last one a failed fsync left in doubt.
        self._written = self._synced = self._failed = 0
        self._durable = Cursor(self._current, self._end)  # readers stop here
        self._sync_lock = threading.Lock()
        self._rotate_next = False  # after a failed fsync: the file's state is unknown
        self.last_write_error: str | None = None
        # When each pending record was appended (records left from before a restart count
        # from now), for the loader's lag; and their total payload size.
        self._append_times: deque[float] = deque()
        self._pending_bytes = 0
        for _, payload in self.read(self.checkpoint, max_bytes=1 << 62):
            self._append_times.append(time.time())
            self._pending_bytes += len(payload)
        # Records appended and loaded by this process (pending ones found at start count as
        # appended): a record numbered N is in the store once `loaded` reaches N.
        self.appended = len(self._append_times)
        self.loaded = 0

    # -- writing ------------------------------------------------------------------------

    def write(self, *payloads: bytes) -> int:
        """Write records (not yet durable: see `sync`); returns their write number. A
        write is a few microseconds into the page cache. Raises SpoolWriteError."""
        data = b"".join(_HEADER.pack(_MAGIC, len(p), zlib.crc32(p)) + p for p in payloads)
        with self._lock:
            try:
                if self._rotate_next or (
                    self._end > 0 and self._end + len(data) > self._segment_bytes
                ):
                    self._rotate()
                _check_room(self._fd, len(data))
                _write_at(self._fd, data, self._end)
            except OSError as exc:
                self._cut_back()
                raise self._failure("write", exc) from exc
            self._end += len(data)
            self._written += 1
            mine = self._written
            now = time.time()
            self._append_times.extend(now for _ in payloads)
            self._pending_bytes += sum(len(p) for p in payloads)
            self.appended += len(payloads)
        return mine

    def sync(self, mine: int) -> None:
        """Return once an fsync that began after write `mine` has succeeded: one fsync
        serves every write made before it. Raises SpoolWriteError when it failed."""
        self._sync(mine)
        self.last_write_error = None

    def _sync(self, mine: int) -> None:
        with self._sync_lock:
            if mine <= self._failed:
                raise self._failure("fsync", OSError(errno.EIO, "an earlier fsync failed"))
            if mine <= self._synced:
                return  # an fsync for a later record covered this one
            with self._lock:
                upto, fd, end = self._written, self._fd, Cursor(self._current, self._end)
            try:
                os.fsync(fd)
            except OSError as exc:
                # Linux may drop the pages an fsync failed to write and report success next
                # time: nothing written so far is trusted, and writing moves to a new file.
                with self._lock:
                    self._failed = max(self._failed, upto)
                    self._rotate_next = True
                raise self._failure("fsync", exc) from exc
            self._synced = max(self._synced, upto)
            with self._lock:  # no fsync is under way: rotated-out files can be closed
                self._durable = max(self._durable, end)
                retired, self._retired = self._retired, []
            for old in retired:
                os.close(old)

    def _failure(self, what: str, exc: OSError) -> SpoolWriteError:
        self.last_write_error = f"spool {what} failed: {exc.strerror or exc}"
        log.error("%s; the request is refused, nothing of it acknowledged", self.last_write_error)
        return SpoolWriteError(exc.errno or errno.EIO, self.last_write_error)

    def _cut_back(self) -> None:
        """Remove a failed write's partial bytes (under the lock); if even that fails, the
        next record goes to a new segment, and readers skip the damage."""
        try:
            os.ftruncate(self._fd, self._end)
        except OSError:
            self._rotate_next = True

    def _rotate(self) -> None:
        """Start a new segment (under the lock), with the old one's records fsync'd (a
        request still waiting for its fsync may be on either file). The old descriptor is
        closed by the next fsync round, never under an fsync in flight."""
        if not self._rotate_next:
            try:
                os.fsync(self._fd)
                self._synced = max(self._synced, self._written)
                self._durable = max(self._durable, Cursor(self._current, self._end))
            except OSError:
                self._failed = max(self._failed, self._written)
        fd = os.open(self.directory / _segment_name(self._current + 1), _WRITE_FLAGS, 0o644)
        _fsync_dir(self.directory)
        self._retired.append(self._fd)
        self._fd, self._current, self._end = fd, self._current + 1, 0
        self._rotate_next = False

    # -- reading ------------------------------------------------------------------------

    def read(
        self, start: Cursor, max_bytes: int, end: Cursor | None = None
    ) -> Iterator[tuple[Cursor, bytes]]:
        """Durable records after `start` (up to `end`), each with the cursor just past it;
        stops near max_bytes."""
        with self._lock:
            end = min(end, self._durable) if end else self._durable
        total = 0
        for number in self._segments():
            if number < start.segment or number > end.segment:
                continue
            offset = start.offset if number == start.segment else 0
            limit = end.offset if number == end.segment else None
            with open(self.directory / _segment_name(number), "rb") as f:
                f.seek(offset)
                for payload in _records(f, limit):
                    total += len(payload)
                    yield Cursor(number, f.tell()), payload
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
            self.loaded += records
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
        with self._sync_lock, self._lock:
            for fd in [*self._retired, self._fd]:
                os.close(fd)
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


def _check_room(fd: int, size: int) -> None:
    """Refuse a write that would leave less than RESERVE_BYTES free on the filesystem."""
    stats = os.fstatvfs(fd)
    if stats.f_bavail * stats.f_frsize - size < RESERVE_BYTES:
        raise OSError(
            errno.ENOSPC,
            f"{os.strerror(errno.ENOSPC)} (the last {RESERVE_BYTES >> 10} KiB are kept "
            "for the loader, which frees space as it loads)",
        )


def _write_at(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _cut_after_last_record(path: Path) -> int:
    """Cut what follows the segment's last intact record (a write torn by a crash, never
    acknowledged); returns the new size."""
    end = 0
    with open(path, "rb") as f:
        for _ in _records(f, None):
            end = f.tell()
    if end != path.stat().st_size:
        log.warning(
            "spool %s: cutting %d bytes of a torn write", path.name, path.stat().st_size - end
        )
        with open(path, "r+b") as f:
            f.truncate(end)
            os.fsync(f.fileno())
    return end


def _records(f: BinaryIO, limit: int | None) -> Iterator[bytes]:
    """Intact records from the file's position, up to byte `limit`. Past a damaged one the
    reader resynchronises on the next header whose payload matches its CRC."""
    while limit is None or f.tell() < limit:
        start = f.tell()
        header = f.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        magic, length, crc = _HEADER.unpack(header)
        payload = f.read(length) if magic == _MAGIC else b""
        if magic == _MAGIC and len(payload) == length and zlib.crc32(payload) == crc:
            yield payload
            continue
        if not _resync(f, start + 1, limit):
            return


def _resync(f: BinaryIO, start: int, limit: int | None) -> bool:
    """Move `f` to the next intact record at or after `start`; False when there is none."""
    f.seek(start)
    data = f.read() if limit is None else f.read(max(0, limit - start))
    at = data.find(_MAGIC)
    while at >= 0:
        if len(data) - at >= _HEADER.size:
            _, length, crc = _HEADER.unpack_from(data, at)
            payload = data[at + _HEADER.size : at + _HEADER.size + length]
            if len(payload) == length and zlib.crc32(payload) == crc:
                log.warning("spool: skipped %d damaged bytes", at + 1)
                f.seek(start + at)
                return True
        at = data.find(_MAGIC, at + 1)
    f.seek(start + len(data))
    return False

"""Group commit for the event loop: requests wait for the fsync that covers their records
without a thread each. One thread runs the fsyncs; each serves every write made before it
and wakes all the requests it covered at once."""

from __future__ import annotations

import asyncio
import threading

from llmpulse.ingest.spool import Spool, SpoolWriteError


class GroupCommit:
    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="llmpulse-fsync", daemon=True)
        self._thread.start()

    async def durable(self, write: int) -> None:
        """Once spool write number `write` is fsync'd; raises SpoolWriteError if it failed."""
        done = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiting.append((write, done))
        self._wake.set()
        await done

    def close(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            if not self._stopped:  # once stopped: what is left, without waiting, then out
                self._wake.wait()
                self._wake.clear()
            with self._lock:
                waiting, self._waiting = self._waiting, []
            if not waiting:
                if self._stopped:
                    return
                continue
            error: SpoolWriteError | None = None
            try:
                self._spool.sync(max(write for write, _ in waiting))
            except SpoolWriteError as exc:
                error = exc
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for _, done in waiting:
                by_loop.setdefault(done.get_loop(), []).append(done)
            for loop, futures in by_loop.items():  # one wake-up of each loop per fsync
                loop.call_soon_threadsafe(_settle, futures, error)


def _settle(futures: list[asyncio.Future[None]], error: SpoolWriteError | None) -> None:
    for done in futures:
        if done.cancelled():  # the client went away; its records are written all the same
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

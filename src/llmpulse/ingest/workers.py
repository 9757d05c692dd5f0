"""Run `prepare` in worker processes, or in-process for small bodies and with workers=0.

The workers are spawned, not forked: the server process has chDB's threads running.
Each builds its own Normalizer once, from the same prices and retention.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from starlette.concurrency import run_in_threadpool

from llmpulse.events.normalize import Normalizer
from llmpulse.ingest.prepare import IngestRequest, Prepared
from llmpulse.ingest.prepare_signals import prepare_request
from llmpulse.pricing.prices import PriceBook, Rates

_worker_normalizer: Normalizer | None = None
# Bodies up to this size are validated in the server process (about 30 events).
INLINE_BYTES = 16 * 1024


def _init_worker(overrides: list[tuple[str, Rates]] | None, retention_days: int) -> None:
    global _worker_normalizer
    _worker_normalizer = Normalizer(PriceBook(overrides), retention_days)
    # Ctrl-C signals the whole process group: the server decides when workers stop (it
    # finishes the requests in flight first), not the signal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A server killed with -9 cannot stop its workers: they notice and leave by themselves."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _prepare_in_worker(request: IngestRequest) -> Prepared:
    assert _worker_normalizer is not None, "worker not initialised"
    return prepare_request(_worker_normalizer, request)


class Preparers:
    def __init__(
        self, overrides: list[tuple[str, Rates]] | None, retention_days: int, workers: int
    ) -> None:
        # For small bodies (and every body without workers); each worker builds its own.
        self._local = Normalizer(PriceBook(overrides), retention_days)
        self._pool: ProcessPoolExecutor | None = None
        if workers > 0:
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(overrides, retention_days),
            )
            # Start every worker now, not on the first request.
            for future in [self._pool.submit(int) for _ in range(workers)]:
                future.result()

    async def run(self, request: IngestRequest) -> Prepared:
        if len(request.body) <= INLINE_BYTES:
            # A small body costs less to validate right here than to hand to a worker (a
            # pickle each way and two thread hand-offs under the GIL).
            return prepare_request(self._local, request)
        if self._pool is None:
            return await run_in_threadpool(prepare_request, self._local, request)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _prepare_in_worker, request)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

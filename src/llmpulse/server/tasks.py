"""Background tasks (the loader; later evaluators and exporters), each on its own thread,
kept alive: a step that raises is logged, counted and retried with backoff, and the task
reports itself failing (so /health turns degraded) until a step succeeds again."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter

from llmpulse.ingest.telemetry import PIPELINE
from llmpulse.meta.leases import Lease

log = logging.getLogger(__name__)
FAILURES = Counter(
    "llmpulse_task_failures",
    "Steps of a background task that failed and will be retried",
    ["task"],
    registry=PIPELINE.registry,
)


class Task(Protocol):
    name: str
    wake: threading.Event  # set by anyone with work for the task: it steps at once

    def step(self) -> float:
        """Do one unit of work; return the seconds to wait before the next step."""


@dataclass
class TaskState:
    failures: int = 0  # consecutive
    last_error: str | None = None
    failing_since: float | None = None
    last_success: float | None = None

    def public(self) -> dict[str, Any]:
        return {
            "ok": self.failures == 0,
            "consecutive_failures": self.failures,
            "last_error": self.last_error,
            "failing_since": self.failing_since,
            "last_success": self.last_success,
        }


class TaskRunner:
    def __init__(self, tasks: list[Task], max_backoff_s: float = 30.0) -> None:
        self._tasks = tasks
        self._max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self.states = {t.name: TaskState() for t in tasks}
        self._threads = [
            threading.Thread(target=self._loop, args=(t,), name=f"llmpulse-{t.name}", daemon=True)
            for t in tasks
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.wake.set()
        for thread in self._threads:
            thread.join()

    def failing(self) -> list[str]:
        return [name for name, state in self.states.items() if state.failures]

    def _loop(self, task: Task) -> None:
        state = self.states[task.name]
        while not self._stop.is_set():
            try:
                wait = task.step()
            except Exception as exc:  # any error: the task must outlive it
                state.failures += 1
                state.last_error = f"{type(exc).__name__}: {exc}"
                state.failing_since = state.failing_since or time.time()
                FAILURES.labels(task.name).inc()
                log.error("%s failed (attempt %d), will retry: %s", task.name, state.failures,
                          state.last_error, exc_info=state.failures == 1)  # fmt: skip
                self._stop.wait(self.backoff(state.failures))
                continue
            if state.failures:
                log.info("%s recovered after %d failed attempts", task.name, state.failures)
            state.failures, state.failing_since = 0, None
            state.last_success = time.time()
            if wait > 0:
                task.wake.wait(wait)
            task.wake.clear()

    def backoff(self, failures: int) -> float:
        """0.5 s doubling to the cap, with jitter so tasks that fail together spread out."""
        return float(min(self._max_backoff_s, 0.5 * 2 ** (failures - 1)) * random.uniform(0.8, 1.2))


class Singleton:
    """A task that runs on one node of many: it steps only while this node holds its lease,
    and steps often enough to renew it."""

    def __init__(self, task: Task, lease: Lease) -> None:
        self.name = task.name
        self.wake = task.wake
        self.lease = lease
        self._task = task

    def step(self) -> float:
        renew = self.lease.ttl_s / 3
        if not self.lease.hold():
            return renew
        return min(self._task.step(), renew)

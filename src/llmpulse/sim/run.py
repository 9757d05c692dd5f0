"""Drive a simulation: live traffic at a rate, or a backfill of history, sent in batches."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol


class Generator(Protocol):
    def event(self, ts: datetime) -> dict[str, Any]: ...


class Sender(Protocol):
    def send(self, batch: list[dict[str, Any]]) -> dict[str, Any]: ...


TICK_S = 0.5  # live traffic is sent at least this often


def run_simulation(
    sender: Sender,
    generator: Generator,
    *,
    count: int | None,
    duration_s: float | None,
    qps: float,
    batch_size: int = 500,
    backfill_s: float = 0.0,
    on_sent: Callable[[int], None] | None = None,
    rate_at: Callable[[float], float] | None = None,
) -> int:
    """Send events until `count` are sent or `duration_s` has passed; returns how many.

    With `backfill_s`, the events' timestamps are spread evenly over that much past time,
    ending now, and are sent as fast as the collector takes them (qps is ignored).
    `rate_at(elapsed seconds)` scales qps over a live run (bursts).
    """
    if count is None and duration_s is None:
        raise ValueError("give a count or a duration")
    if backfill_s > 0:
        if count is None:
            raise ValueError("a backfill needs a count of events")
        return _backfill(sender, generator, count, backfill_s, batch_size, on_sent)
    sent = 0
    started = time.monotonic()
    expected, last = 0.0, 0.0  # events due by `last` seconds into the run
    while count is None or sent < count:
        elapsed = time.monotonic() - started
        if duration_s is not None and elapsed >= duration_s:
            break
        expected += (elapsed + TICK_S - last) * qps * (rate_at(elapsed) if rate_at else 1.0)
        last = elapsed + TICK_S
        due = int(expected) - sent if qps > 0 else batch_size
        due = min(due, batch_size, (count - sent) if count is not None else batch_size)
        if due <= 0:
            time.sleep(min(TICK_S, 1 / qps))
            continue
        now = datetime.now(UTC)
        sender.send([generator.event(now) for _ in range(due)])
        sent += due
        if on_sent:
            on_sent(due)
    return sent


def _backfill(
    sender: Sender,
    generator: Generator,
    count: int,
    span_s: float,
    batch_size: int,
    on_sent: Callable[[int], None] | None,
) -> int:
    first = time.time() - span_s
    step = span_s / max(count, 1)
    sent = 0
    while sent < count:
        size = min(batch_size, count - sent)
        batch = [
            generator.event(datetime.fromtimestamp(first + (sent + i) * step, tz=UTC))
            for i in range(size)
        ]
        sender.send(batch)
        sent += size
        if on_sent:
            on_sent(size)
    return sent

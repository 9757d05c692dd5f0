"""Send events to a collector over HTTP in batches, retrying failures with the same ids."""

from __future__ import annotations

import gzip
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import httpx
import orjson

RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class SendError(RuntimeError):
    """A batch that could not be delivered; the message says why."""


@dataclass
class SendStats:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    retries: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def batched(events: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(events)
    while batch := list(islice(it, size)):
        yield batch


class EventSender:
    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        max_attempts: int = 8,
        compress: bool = True,
        path: str = "/v1/events",
    ) -> None:
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if compress:
            headers["Content-Encoding"] = "gzip"
        self._compress = compress
        self._endpoint = url.rstrip("/") + path
        self._client = httpx.Client(headers=headers, timeout=timeout_s)
        self._max_attempts = max_attempts
        self.stats = SendStats()

    def send(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        """Deliver one batch; retried on network errors, 429 and 5xx with backoff."""
        body = orjson.dumps(batch)
        if self._compress:
            body = gzip.compress(body, compresslevel=1)
        delay = 0.2
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._client.post(self._endpoint, content=body)
            except httpx.TransportError as exc:
                problem = f"cannot reach {self._endpoint}: {exc}"
            else:
                if response.status_code in (202, 400) and "accepted" in response.text:
                    answer: dict[str, Any] = response.json()
                    self._count(len(batch), answer)
                    return answer
                if response.status_code not in RETRY_STATUSES:
                    raise SendError(
                        f"{self._endpoint}: HTTP {response.status_code}: {_error(response)}"
                    )
                problem = f"HTTP {response.status_code}"
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit():
                    delay = max(delay, float(retry_after))
            if attempt == self._max_attempts:
                raise SendError(f"gave up after {attempt} attempts: {problem}")
            self.stats.retries += 1
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")

    def _count(self, size: int, answer: dict[str, Any]) -> None:
        self.stats.sent += size
        self.stats.accepted += answer["accepted"]
        self.stats.rejected += answer["rejected"]
        self.stats.errors.extend(answer["errors"][:10])

    def close(self) -> None:
        self._client.close()


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return response.text[:200]

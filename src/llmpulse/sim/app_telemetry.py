"""The application around simulated LLM calls, for the demo: each call gets a trace, one or
two log lines in that trace (an ERROR for a failed call), and each batch a reading of two
custom metrics (a gauge of queue depth, a counter of handled requests)."""

from __future__ import annotations

import random
from typing import Any

from llmpulse.sim.sender import EventSender

SERVICES = {"search": "search-api", "summarize": "docs-worker", "chat": "chat-api"}


class AppTelemetrySender:
    """Sends a batch of calls, then their logs and the batch's metric points."""

    def __init__(self, url: str, api_key: str | None, seed: int = 0) -> None:
        self.calls = EventSender(url, api_key)
        self._logs = EventSender(url, api_key, path="/v1/logs")
        self._metrics = EventSender(url, api_key, path="/v1/metrics")
        self._rng = random.Random(seed)
        self.stats = self.calls.stats

    def send(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        logs = []
        for call in batch:
            call.setdefault("trace_id", f"{self._rng.getrandbits(128):032x}")
            call.setdefault("span_id", f"{self._rng.getrandbits(64):016x}")
            logs.extend(self._logs_of(call))
        answer = self.calls.send(batch)
        self._logs.send(logs)
        last = batch[-1]["ts"]
        depth = max(0.0, 20 + 15 * self._rng.gauss(0, 1))
        self._metrics.send([
            {"name": "queue.depth", "value": round(depth, 1), "ts": last,
             "tags": {"queue": "jobs"}},
            {"name": "requests.handled", "type": "counter", "value": len(batch), "ts": last,
             "tags": {"region": batch[-1].get("region") or "unknown"}},
        ])  # fmt: skip
        return answer

    def _logs_of(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        service = SERVICES.get(call.get("feature") or "", "app")
        common = {"ts": call["ts"], "service": service, "trace_id": call["trace_id"],
                  "span_id": call["span_id"], "logger": f"{service}.handler"}  # fmt: skip
        out = [{**common, "level": "INFO",
                "message": f"{call.get('feature')} request for {call.get('user_id')} "
                           f"on {call['model_id']}"}]  # fmt: skip
        if call.get("status") == "error":
            out.append({**common, "level": "ERROR",
                        "message": f"{call['model_id']} call failed: {call['error_type']}",
                        "attributes": {"http_status": call.get("http_status") or 0}})  # fmt: skip
        elif call["latency_ms"] > 5000:
            out.append({**common, "level": "WARNING",
                        "message": f"slow model call: {call['latency_ms']:.0f} ms"})  # fmt: skip
        return out

    def close(self) -> None:
        for sender in (self.calls, self._logs, self._metrics):
            sender.close()

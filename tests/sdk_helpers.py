"""Shared by the SDK, OTLP and LangChain tests: reading back what a real `llmpulse serve`
stored."""

from __future__ import annotations

import time
from typing import Any

import httpx

import llmpulse
from conftest import Server


def stored_events(
    server: Server, key: str, expected: int, timeout: float = 30
) -> list[dict[str, Any]]:
    """The project's events, oldest first, once `expected` of them are stored."""
    assert llmpulse.flush(timeout=timeout), llmpulse.stats()
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as http:
        while True:
            server.wait_loaded()
            page = http.get("/v1/requests", params={"from": "-1h", "limit": 1000}).json()
            events = page["requests"]
            if len(events) >= expected or time.monotonic() > deadline:
                return sorted(events, key=lambda e: (e["ts"], e["event_id"]))
            time.sleep(0.2)


def get_trace(server: Server, key: str, trace_id: str) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as http:
        response = http.get(f"/v1/traces/{trace_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

"""Local receivers for alert notifications, speaking what the real services speak: an
HTTP endpoint (webhook, Slack incoming webhook, PagerDuty Events v2) that keeps every
request, and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from conftest import free_port


class Receiver:
    """POSTs kept as (path, headers, raw body, parsed body); answers `status`."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.requests: list[tuple[str, dict[str, str], bytes, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, dict(self.headers), raw, json.loads(raw)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} of {count} arrived"
            time.sleep(0.05)
        return [r[3] for r in self.requests]

    def stop(self) -> None:
        self._server.shutdown()


class Mailbox:
    """A real SMTP server on a free port; the messages it received."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        mailbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                mailbox.messages.append(envelope)
                return "250 OK"

        self.port = free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def wait_for(self, count: int, timeout: float = 30) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {count} arrived"
            time.sleep(0.05)
        return self.messages

    def stop(self) -> None:
        self._controller.stop()


def eventually(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.1)

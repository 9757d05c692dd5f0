"""Notifications: one message per alert transition, in each channel's own format (a signed
webhook, Slack, PagerDuty Events v2, e-mail), delivered off the evaluator's thread with
retries; every attempt's outcome is recorded. Messages carry links to the alert and to
example requests, never prompts or responses."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import smtplib
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Final
from urllib.parse import quote

import httpx

from llmpulse.alerts.rules import Channel, Rule
from llmpulse.alerts.states import FIRING, Instance

log = logging.getLogger(__name__)
SIGNATURE_HEADER: Final = "X-LLMPulse-Signature"
ATTEMPTS: Final = 3
FAILING_AFTER: Final = 5  # consecutive failed deliveries mark a channel failing


@dataclass(frozen=True)
class Notice:
    """What every channel's message is made of."""

    event_id: str
    rule_id: str
    rule: Rule
    instance: Instance
    reason: str  # firing, resolved, severity, renotify, no_data, data_back
    base_url: str

    @property
    def status(self) -> str:
        return self.instance.state

    @property
    def alert_url(self) -> str:
        return f"{self.base_url}/alerts?rule={quote(self.rule_id)}"

    def example_urls(self) -> list[dict[str, str]]:
        examples = (self.instance.cause or {}).get("examples", [])
        return [{"event_id": e, "url": f"{self.base_url}/requests?q={e}"} for e in examples]

    def summary(self) -> str:
        i, r = self.instance, self.rule
        group = ", ".join(f"{k}={v}" for k, v in i.group.items())
        where = f" [{group}]" if group else ""
        value = "no data" if i.value is None else f"{i.value:.4g}"
        if self.reason in ("resolved", "data_back"):
            return f"RESOLVED {r.name}{where}: {r.metric} {value}"
        if i.state != FIRING:
            return f"{i.state.upper()} {r.name}{where}: {r.metric} {value}"
        threshold = "" if i.threshold is None else f" {r.comparison} {i.threshold:.4g}"
        return f"{(i.severity or '').upper()} {r.name}{where}: {r.metric} {value}{threshold}"

    def body(self) -> dict[str, Any]:
        """The webhook's JSON (and what the other formats are made from)."""
        i, r = self.instance, self.rule
        return {
            "version": 1,
            "event_id": self.event_id,
            "project": i.project,
            "status": i.state,
            "reason": self.reason,
            "severity": i.severity,
            "summary": self.summary(),
            "rule": {
                "id": self.rule_id,
                "name": r.name,
                "metric": r.metric,
                "comparison": r.comparison,
                "warning": r.warning,
                "critical": r.critical,
                "window": r.window,
                "confidence": r.confidence,
            },
            "group": i.group,
            "value": i.value,
            "bound": i.bound,
            "threshold": i.threshold,
            "requests": i.requests,
            "since": i.since,
            "evaluated_at": i.evaluated_at,
            "cause": {k: v for k, v in (i.cause or {}).items() if k != "examples"} or None,
            "examples": self.example_urls(),
            "url": self.alert_url,
        }


def signature(secret: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of the body under the channel's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _slack(notice: Notice) -> dict[str, Any]:
    body = notice.body()
    lines = [f"*{notice.summary()}*"]
    if body["cause"]:
        c = body["cause"]
        lines.append(f"Most of the change: {c['dimension']} = {c['value']}")
    links = " · ".join(f"<{e['url']}|{e['event_id'][:8]}>" for e in body["examples"])
    if links:
        lines.append(f"Examples: {links}")
    return {
        "text": notice.summary(),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
            {"type": "actions", "elements": [{"type": "button", "url": notice.alert_url,
                                              "text": {"type": "plain_text", "text": "Open"}}]},
        ],
    }  # fmt: skip


def _pagerduty(notice: Notice, routing_key: str) -> dict[str, Any]:
    i = notice.instance
    resolve = i.state != FIRING
    message: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "resolve" if resolve else "trigger",
        "dedup_key": f"llmpulse/{i.project}/{notice.rule_id}/{i.key}",
    }
    if not resolve:
        message["payload"] = {
            "summary": notice.summary()[:1024],
            "source": "llmpulse",
            "severity": "critical" if i.severity == "critical" else "warning",
            "custom_details": notice.body(),
        }
        message["links"] = [{"href": notice.alert_url, "text": "Alert"}] + [
            {"href": e["url"], "text": f"Request {e['event_id']}"} for e in notice.example_urls()
        ]
    return message


def deliver(channel: Channel, notice: Notice, timeout_s: float = 5.0) -> None:
    """One attempt; raises on any failure (a non-2xx answer included)."""
    if channel.type == "email":
        message = EmailMessage()
        message["Subject"] = notice.summary()
        message["From"] = channel.email_from or ""
        message["To"] = ", ".join(channel.email_to)
        message.set_content(json.dumps(notice.body(), indent=2))
        assert channel.smtp_host is not None
        with smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=timeout_s) as smtp:
            smtp.send_message(message)
        return
    if channel.type == "slack":
        payload = _slack(notice)
    elif channel.type == "pagerduty":
        payload = _pagerduty(notice, channel.routing_key or "")
    else:
        payload = notice.body()
    data = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "llmpulse-alerts"}
    if channel.type == "webhook" and channel.secret:
        headers[SIGNATURE_HEADER] = signature(channel.secret, data)
    url = channel.url or "https://events.pagerduty.com/v2/enqueue"
    response = httpx.post(url, content=data, headers=headers, timeout=timeout_s)
    response.raise_for_status()


@dataclass
class _Job:
    notice: Notice
    channel_id: str
    channel: Channel
    done: threading.Event = field(default_factory=threading.Event)


class Notifier:
    """Delivers on its own thread, so a slow or dead channel never holds up evaluation;
    retries with backoff; records each delivery's outcome with `record`."""

    def __init__(self, record: Any, backoff_s: float = 0.5) -> None:
        self._record = record  # (project, event_id, channel_id, ok, attempts, error) -> None
        self._backoff_s = backoff_s
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self.outcomes = {"ok": 0, "failed": 0}  # deliveries so far, for /metrics
        self._thread = threading.Thread(target=self._run, name="llmpulse-notify", daemon=True)
        self._thread.start()

    def send(self, notice: Notice, channel_id: str, channel: Channel) -> threading.Event:
        job = _Job(notice, channel_id, channel)
        self._jobs.put(job)
        return job.done

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._attempt(job)
            finally:
                job.done.set()

    def _attempt(self, job: _Job) -> None:
        error = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                deliver(job.channel, job.notice)
            except Exception as exc:  # any failure: retried, then recorded
                error = f"{type(exc).__name__}: {exc}"[:500]
                if attempt < ATTEMPTS:
                    time.sleep(self._backoff_s * 2 ** (attempt - 1))
                continue
            self._save(job, True, attempt, "")
            return
        log.warning("alert %s to channel %s failed %d times: %s", job.notice.event_id,
                    job.channel_id, ATTEMPTS, error)  # fmt: skip
        self._save(job, False, ATTEMPTS, error)

    def _save(self, job: _Job, ok: bool, attempts: int, error: str) -> None:
        self.outcomes["ok" if ok else "failed"] += 1
        try:
            self._record(job.notice.instance.project, job.notice.event_id, job.channel_id,
                         ok, attempts, error)  # fmt: skip
        except Exception:
            log.exception("could not record the delivery of alert %s", job.notice.event_id)

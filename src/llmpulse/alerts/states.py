"""An alert instance's life: ok -> pending -> firing -> resolved -> ok, and no_data.

`advance` is the whole state machine: from the instance as it was and this evaluation's
observation it gives the instance as it is now and, when something happened that people
must hear of, the transition to notify. Pure: no clock, no store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from llmpulse.alerts.kinds import Observation
from llmpulse.alerts.rules import Rule

OK, PENDING, FIRING, RESOLVED, NO_DATA = "ok", "pending", "firing", "resolved", "no_data"
WARNING, CRITICAL = "warning", "critical"


def instance_key(group: dict[str, str]) -> str:
    """The instance's id within its rule: its group values as sorted JSON ('{}' if none)."""
    return json.dumps(group, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Instance:
    project: str
    rule_id: str
    group: dict[str, str]
    state: str = OK
    severity: str | None = None
    since: float = 0.0  # when it entered this state (epoch seconds)
    value: float | None = None
    bound: float | None = None
    baseline: float | None = None  # thresholds are multiples of it, when the rule has one
    threshold: float | None = None
    requests: int = 0
    evaluated_at: float = 0.0
    last_breach: float | None = None
    last_notified: float | None = None
    cause: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return instance_key(self.group)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Instance:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Transition:
    """A change people are told of (or would be, but for a silence)."""

    before: Instance
    after: Instance
    reason: str  # firing, resolved, severity, renotify, no_data, data_back
    silenced: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


def severity_of(rule: Rule, value: float | None) -> str | None:
    """critical or warning when `value` crosses that threshold, else None."""
    if value is None:
        return None
    if rule.critical is not None and rule.breaches(value, rule.critical):
        return CRITICAL
    if rule.warning is not None and rule.breaches(value, rule.warning):
        return WARNING
    return None


def advance(
    rule: Rule, was: Instance, seen: Observation | None, now: float
) -> tuple[Instance, Transition | None]:
    """The instance after this evaluation, and the transition to notify (if any)."""
    # Fewer calls than min_requests is too little to judge: no data, as no calls at all.
    enough = seen is not None and seen.value is not None and seen.requests >= rule.min_requests
    if not enough:
        if rule.no_data == "keep":
            return replace(was, evaluated_at=now), None
        if rule.no_data == "no_data":
            now_inst = _measured(was, seen, rule, None, now)
            if was.state == NO_DATA:
                return now_inst, None
            after = replace(now_inst, state=NO_DATA, severity=None, since=now, last_notified=now)
            return after, Transition(was, after, "no_data")
        severity = CRITICAL if rule.no_data == "alert" else None
    else:
        assert seen is not None
        severity = severity_of(rule, seen.compared)
    current = _measured(was, seen, rule, severity, now)
    if severity is not None:
        return _breaching(rule, was, replace(current, last_breach=now), severity, now)
    return _clear(rule, was, current, now)


def _measured(
    was: Instance, seen: Observation | None, rule: Rule, severity: str | None, now: float
) -> Instance:
    threshold = None
    if severity == CRITICAL:
        threshold = rule.critical
    elif severity == WARNING:
        threshold = rule.warning
    return replace(
        was,
        value=seen.value if seen else None,
        bound=seen.bound if seen else None,
        baseline=seen.baseline if seen else None,
        requests=seen.requests if seen else 0,
        threshold=threshold,
        evaluated_at=now,
    )


def _breaching(
    rule: Rule, was: Instance, current: Instance, severity: str, now: float
) -> tuple[Instance, Transition | None]:
    if was.state in (OK, RESOLVED, NO_DATA):
        if rule.for_s > 0:
            return replace(current, state=PENDING, severity=severity, since=now), None
        return _fire(was, current, severity, now)
    if was.state == PENDING:
        if now - was.since >= rule.for_s:
            return _fire(was, current, severity, now)
        return replace(current, severity=severity), None
    # firing
    if severity != was.severity:
        after = replace(current, severity=severity, last_notified=now)
        return after, Transition(was, after, "severity")
    renotify = rule.renotify_s
    if renotify and was.last_notified is not None and now - was.last_notified >= renotify:
        after = replace(current, last_notified=now)
        return after, Transition(was, after, "renotify")
    return current, None


def _fire(
    was: Instance, current: Instance, severity: str, now: float
) -> tuple[Instance, Transition]:
    after = replace(current, state=FIRING, severity=severity, since=now, last_notified=now)
    return after, Transition(was, after, "firing")


def _clear(
    rule: Rule, was: Instance, current: Instance, now: float
) -> tuple[Instance, Transition | None]:
    if was.state == PENDING:
        return replace(current, state=OK, severity=None, since=now, threshold=None), None
    if was.state == FIRING:
        last = was.last_breach or was.since
        if rule.keep_firing_s and now - last < rule.keep_firing_s:
            return replace(current, severity=was.severity, threshold=was.threshold), None
        after = replace(current, state=RESOLVED, severity=None, since=now, last_notified=now)
        return after, Transition(was, after, "resolved")
    if was.state == NO_DATA:
        after = replace(current, state=OK, severity=None, since=now)
        return after, Transition(was, after, "data_back")
    if was.state == RESOLVED:
        return replace(current, state=OK, since=now), None
    return current, None

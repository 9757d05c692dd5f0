"""The evaluator: each rule on its own interval, each instance through the state machine,
each transition recorded, explained and sent. A background task of `llmpulse serve` (its
own thread: ingest never waits for it) and `llmpulse alerts eval --once`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from llmpulse.alerts import (  # noqa: F401 - register the kinds
    cost_kinds,
    metrics,
    monitor_kinds,
    telemetry_kinds,
)
from llmpulse.alerts.channels import Notice, Notifier
from llmpulse.alerts.kinds import KINDS, Observation
from llmpulse.alerts.repository import AlertStore, new_id
from llmpulse.alerts.rules import Channel, Rule
from llmpulse.alerts.slos import Slo
from llmpulse.alerts.states import Instance, Transition, advance, instance_key
from llmpulse.store.documents import Document
from llmpulse.store.engine import Engine

log = logging.getLogger(__name__)
MAX_WAIT_S = 5.0  # new and changed rules are picked up at least this often


class Evaluator:
    name = "alerts"

    def __init__(
        self,
        engine: Engine,
        base_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self.store = AlertStore(engine)
        self.base_url = base_url.rstrip("/")
        self._lock = threading.Lock()  # the task's evaluations and the API's, one at a time
        self._clock = clock
        self.notifier = Notifier(self.store.delivered)
        self.wake = threading.Event()
        self._instances: dict[tuple[str, str, str], Instance] | None = None
        self._next_due: dict[tuple[str, str], float] = {}
        self.errors: dict[tuple[str, str], str] = {}  # a rule's last evaluation error
        self.evaluations = 0

    def step(self) -> float:
        now = self._clock()
        self.evaluate(now, due_only=True)
        upcoming = [t - now for t in self._next_due.values()]
        return max(0.2, min([MAX_WAIT_S, *upcoming]))

    def close(self) -> None:
        self.notifier.close()

    def evaluate_project(self, project: str) -> list[Transition]:
        """Every rule of the project, now (the API's and the CLI's `eval --once`)."""
        return self.evaluate(project=project)

    def evaluate(
        self, now: float | None = None, due_only: bool = False, project: str | None = None
    ) -> list[Transition]:
        """Evaluate the rules (those due, or all; of one project, or all) at `now`; the
        transitions made."""
        with self._lock:
            return self._evaluate(self._clock() if now is None else now, due_only, project)

    def _evaluate(self, now: float, due_only: bool, project: str | None) -> list[Transition]:
        if self._instances is None:
            self._instances = {(i.project, i.rule_id, i.key): i for i in self.store.instances()}
        rules = self._rules()
        known = {(d.project, d.id) for d, _ in rules}
        self._instances = {k: v for k, v in self._instances.items() if k[:2] in known}
        self._next_due = {k: t for k, t in self._next_due.items() if k in known}
        transitions: list[Transition] = []
        silences: dict[str, list[dict[str, Any]]] = {}
        changed: list[Instance] = []
        for doc, rule in rules:
            key = (doc.project, doc.id)
            if project is not None and doc.project != project:
                continue
            if not rule.enabled or (due_only and self._next_due.get(key, 0) > now):
                continue
            self._next_due[key] = now + rule.every_s
            try:
                if doc.project not in silences:  # read once a round per project
                    silences[doc.project] = self.active_silences(doc.project, now)
                made, evaluated = self._evaluate_rule(doc, rule, now, silences[doc.project])
            except Exception as exc:  # one rule's failure never stops the others
                self.errors[key] = f"{type(exc).__name__}: {exc}"
                log.warning("alert rule %s/%s failed: %s", doc.project, doc.id, exc)
                continue
            self.errors.pop(key, None)
            transitions += made
            changed += evaluated
        self.store.save_instances(changed)
        self.evaluations += 1
        return transitions

    def _rules(self) -> list[tuple[Document, Rule]]:
        """The stored rules, and the burn-rate rules of every SLO."""
        out = []
        for doc in self.store.rules.list():
            try:
                out.append((doc, Rule.model_validate(doc.body)))
            except ValueError as exc:  # stored before a change of the rules' schema
                self.errors[(doc.project, doc.id)] = f"unreadable rule: {exc}"
        for doc in self.store.slos.list():
            for rule_id, rule in Slo.model_validate(doc.body).burn_rules(doc.id):
                out.append((Document(doc.project, rule_id, rule.public()), rule))
        return out

    def _evaluate_rule(
        self, doc: Document, rule: Rule, now: float, silences: list[dict[str, Any]]
    ) -> tuple[list[Transition], list[Instance]]:
        assert self._instances is not None
        kind = KINDS[rule.kind]
        end = datetime.fromtimestamp(now, UTC)
        seen = {
            instance_key(o.group): o for o in kind.observe(self._engine, doc.project, rule, end)
        }
        mine = {k[2]: i for k, i in self._instances.items() if k[:2] == (doc.project, doc.id)}
        if not rule.group_by and "{}" not in seen:
            seen["{}"] = Observation({}, None)  # an ungrouped rule always has its instance
        transitions, evaluated = [], []
        for key in seen.keys() | mine.keys():
            observation = seen.get(key)
            was = mine.get(key) or Instance(
                doc.project, doc.id, observation.group if observation else {}, since=now
            )
            after, transition = advance(rule, was, observation, now)
            if transition is not None:
                if transition.reason == "firing" and observation is not None:
                    cause = kind.explain(self._engine, doc.project, rule, observation, end)
                    after = replace(after, cause=cause)
                    transition = replace(transition, after=after)
                transition = replace(transition, silenced=self.silenced(silences, after))
                transitions.append(transition)
                self._announce(doc, rule, transition)
            self._instances[(doc.project, doc.id, key)] = after
            evaluated.append(after)
        return transitions, evaluated

    def _announce(self, doc: Document, rule: Rule, transition: Transition) -> None:
        """Record the transition; send it to the rule's channels unless silenced."""
        event_id = new_id()
        self.store.record([(event_id, rule.name, transition)])
        if transition.silenced:
            return
        notice = Notice(event_id, doc.id, rule, transition.after, transition.reason,
                        self.base_url)  # fmt: skip
        for channel_id in rule.channels:
            found = self.store.channels.get(doc.project, channel_id)
            if found is None:
                self.store.delivered(doc.project, event_id, channel_id, False, 0,
                                     "no such channel")  # fmt: skip
                continue
            self.notifier.send(notice, channel_id, Channel.model_validate(found.body))

    def active_silences(self, project: str, now: float | None = None) -> list[dict[str, Any]]:
        now = self._clock() if now is None else now
        return [s.body for s in self.store.silences.list(project) if s.body["ends_at"] > now]

    @staticmethod
    def silenced(silences: list[dict[str, Any]], instance: Instance) -> bool:
        return any(_matches(s, instance.rule_id, instance.group) for s in silences)

    def current(self, project: str) -> list[Instance]:
        """The project's instances as last evaluated (this process's view, else the store's)."""
        if self._instances is None:
            return self.store.instances(project)
        return [i for k, i in self._instances.items() if k[0] == project]


def _matches(silence: dict[str, Any], rule_id: str, group: dict[str, str]) -> bool:
    if silence.get("rule_id") not in (None, rule_id):
        return False
    return all(group.get(k) == v for k, v in silence.get("group", {}).items())

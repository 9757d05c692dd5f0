"""Rule kinds: what a rule measures and how. The evaluator knows only this registry, so
drift, data-quality, budget and sentiment rules plug in as kinds of their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from llmpulse.alerts.rules import Rule
from llmpulse.api.errors import FieldError
from llmpulse.store.engine import Engine


@dataclass(frozen=True)
class Observation:
    """One instance's measurement at one evaluation."""

    group: dict[str, str]  # the instance's values of the rule's group_by ({} without)
    value: float | None  # None: no data
    requests: int = 0
    # The Wilson bound of a gated rate: compared to the thresholds instead of the value.
    bound: float | None = None
    # The value over the rule's baseline period: thresholds are then multiples of it.
    baseline: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def compared(self) -> float | None:
        if self.baseline is not None:
            return None if self.value is None or not self.baseline else self.value / self.baseline
        return self.bound if self.bound is not None else self.value


class RuleKind(Protocol):
    name: str

    def check(self, rule: Rule) -> None:
        """Raise FieldError (422) for what this kind cannot evaluate."""

    def observe(self, engine: Engine, project: str, rule: Rule, end: datetime) -> list[Observation]:
        """Every instance's measurement over the rule's window ending at `end`."""

    def explain(
        self, engine: Engine, project: str, rule: Rule, seen: Observation, end: datetime
    ) -> dict[str, Any] | None:
        """What explains a firing instance: the slice that changed most against the
        previous window, with example event ids; None when the kind cannot say."""


def check_common(rule: Rule, allowed: set[str], choices: str) -> None:
    """What every kind with its own params refuses: other params, groups, a rate gate."""
    unknown = set(rule.params) - allowed
    if unknown:
        raise FieldError(422, "params", f"unknown {', '.join(sorted(unknown))}: {choices}")
    if rule.group_by:
        raise FieldError(422, "group_by", f"{rule.kind} rules take no groups")
    if rule.confidence is not None:
        raise FieldError(422, "confidence", "applies to metric rules' rates only")


def check_own_scope(rule: Rule, allowed: set[str], choices: str) -> None:
    """check_common, and no call-dimension filters: for kinds over other tables (posts,
    logs, custom metrics), whose scope is in their params."""
    check_common(rule, allowed, choices)
    if rule.filters:
        raise FieldError(422, "filters", f"{rule.kind} rules are scoped by their params")


KINDS: dict[str, RuleKind] = {}


def register(kind: RuleKind) -> RuleKind:
    KINDS[kind.name] = kind
    return kind

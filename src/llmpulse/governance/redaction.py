"""A project's server-side redaction settings: saved in the store's documents, kept current
in the ingest pipeline's registry (applied to the next request on)."""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmpulse.events.redaction import RULES, RedactionPolicy, RedactionRegistry
from llmpulse.query.events import redactions
from llmpulse.query.filters import Scope
from llmpulse.store.documents import Documents
from llmpulse.store.engine import Engine

KIND: Final = "redaction"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class CustomRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="lower-case letters, digits, _ (shown as [REDACTED:name])")
    pattern: str = Field(min_length=1, max_length=1000, description="a Python regex")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value) or value in RULES:
            raise ValueError(
                "use 1-32 lower-case letters, digits or _, starting with a letter, "
                f"not a built-in rule ({', '.join(RULES)})"
            )
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regex: {exc}") from None
        if compiled.groups or compiled.match(""):
            raise ValueError("must match some text and have no groups (use (?:...))")
        return value


class RedactionBody(BaseModel):
    """Which built-in rules are on (each off unless listed), and the project's own."""

    model_config = ConfigDict(extra="forbid")
    rules: dict[str, bool] = Field(default_factory=dict, description=", ".join(RULES))
    custom: list[CustomRule] = Field(default_factory=list, max_length=50)

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: dict[str, bool]) -> dict[str, bool]:
        unknown = sorted(set(value) - set(RULES))
        if unknown:
            raise ValueError(f"unknown rule {unknown[0]!r}: use {', '.join(RULES)}")
        return value

    def policy(self) -> RedactionPolicy:
        on = tuple(name for name in RULES if self.rules.get(name))
        return RedactionPolicy(on, tuple((c.name, c.pattern) for c in self.custom))


def described(policy: RedactionPolicy | None) -> dict[str, Any]:
    policy = policy or RedactionPolicy()
    return {
        "rules": {name: name in policy.rules for name in RULES},
        "custom": [{"name": n, "pattern": p} for n, p in policy.custom],
    }


def counts(engine: Engine, project: str) -> dict[str, int]:
    """Redactions per rule in the project's calls of the last 24 hours, counted in the
    stored text itself (each leaves a `[REDACTED:rule]` mark)."""
    return redactions(engine, Scope.build(project, "-24h", None, {}))


def _policy(body: dict[str, Any]) -> RedactionPolicy:
    return RedactionPolicy(tuple(body["rules"]), tuple((n, p) for n, p in body["custom"]))


def save(
    engine: Engine, registry: RedactionRegistry, project: str, policy: RedactionPolicy
) -> None:
    Documents(engine, KIND).put(
        project, "redaction", {"rules": list(policy.rules), "custom": list(policy.custom)}
    )
    registry.set(project, policy)


def load_all(engine: Engine, registry: RedactionRegistry) -> None:
    for doc in Documents(engine, KIND).list():
        registry.set(doc.project, _policy(doc.body))

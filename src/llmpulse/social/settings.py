"""A project's social enrichment settings (tracked entities, engagement weights): saved in
the store's documents, kept current in the ingest pipeline's registry. They apply to posts
received from then on: enrichment happens at ingest."""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmpulse.events.posts import DEFAULT_ENTITIES, DEFAULT_WEIGHTS, ENGAGEMENT_FIELDS, SocialPolicy
from llmpulse.events.settings import ProjectSettings
from llmpulse.store.documents import Documents
from llmpulse.store.engine import Engine

KIND: Final = "social"
_ENTITY = re.compile(r"[A-Za-z0-9_.$-]{1,64}")


class SocialBody(BaseModel):
    """Tracked entities (name -> aliases, matched case-insensitively as whole words; a
    `$TAG` alias also matches the cashtag) and the weight of each engagement count."""

    model_config = ConfigDict(extra="forbid")
    entities: dict[str, list[str]] = Field(
        default_factory=lambda: {name: list(aliases) for name, aliases in DEFAULT_ENTITIES},
        max_length=100,
    )
    engagement: dict[str, float] = Field(
        default_factory=lambda: dict(zip(ENGAGEMENT_FIELDS, DEFAULT_WEIGHTS, strict=True)),
        description="weights of likes, reposts, replies, quotes (default 1, 2, 1, 1)",
    )

    @field_validator("entities")
    @classmethod
    def _entities(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, aliases in value.items():
            if not _ENTITY.fullmatch(name):
                raise ValueError(f"entity name {name!r}: 1-64 letters, digits or _ . $ -")
            if not aliases or any(not a.strip() or len(a) > 100 for a in aliases):
                raise ValueError(f"entity {name!r}: give 1 or more aliases of 1-100 characters")
        return value

    @field_validator("engagement")
    @classmethod
    def _engagement(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(ENGAGEMENT_FIELDS))
        if unknown:
            raise ValueError(f"unknown count {unknown[0]!r}: use {', '.join(ENGAGEMENT_FIELDS)}")
        if any(not 0 <= w <= 1000 for w in value.values()):
            raise ValueError("weights are from 0 to 1000")
        return value

    def policy(self) -> SocialPolicy:
        defaults = dict(zip(ENGAGEMENT_FIELDS, DEFAULT_WEIGHTS, strict=True))
        weights = tuple(self.engagement.get(f, defaults[f]) for f in ENGAGEMENT_FIELDS)
        entities = tuple((n, tuple(a)) for n, a in self.entities.items())
        return SocialPolicy(entities, weights)  # type: ignore[arg-type]


def described(policy: SocialPolicy | None) -> dict[str, Any]:
    policy = policy or SocialPolicy()
    return {
        "entities": {name: list(aliases) for name, aliases in policy.entities},
        "engagement": dict(zip(ENGAGEMENT_FIELDS, policy.weights, strict=True)),
    }


def save(
    engine: Engine, registry: ProjectSettings[SocialPolicy], project: str, policy: SocialPolicy
) -> None:
    Documents(engine, KIND).put(project, KIND, described(policy))
    registry.set(project, policy)


def load_all(engine: Engine, registry: ProjectSettings[SocialPolicy]) -> None:
    for doc in Documents(engine, KIND).list():
        registry.set(doc.project, SocialBody.model_validate(doc.body).policy())

"""What the calls inside a block share: user, session, experiment, ... and the current span.

Both live in contextvars, so they follow asyncio tasks and threads started with
`contextvars.copy_context().run(...)`, and never leak between concurrent requests.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Attributes:
    user_id: str | None = None
    session_id: str | None = None
    experiment: tuple[str, str] | None = None
    prompt_version: str | None = None
    feature: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, event: dict[str, Any]) -> None:
        """Set the event's context fields (only those this block has)."""
        if self.user_id is not None:
            event["user_id"] = self.user_id
        if self.session_id is not None:
            event["session_id"] = self.session_id
        if self.experiment is not None:
            event["experiment"] = {"name": self.experiment[0], "variant": self.experiment[1]}
        if self.prompt_version is not None:
            event["prompt_version"] = self.prompt_version
        if self.feature is not None:
            event["feature"] = self.feature
        if self.tags:
            event["tags"] = list(self.tags)
        if self.metadata:
            event["metadata"] = dict(self.metadata)


@dataclass(frozen=True, slots=True)
class SpanRef:
    trace_id: str  # 32 hex characters, as OpenTelemetry writes them
    span_id: str  # 16 hex characters


_EMPTY = Attributes()
_attributes: ContextVar[Attributes] = ContextVar("llmpulse_attributes", default=_EMPTY)
_span: ContextVar[SpanRef | None] = ContextVar("llmpulse_span", default=None)


def new_trace_id() -> str:
    return f"{random.getrandbits(128) or 1:032x}"


def new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def current_attributes() -> Attributes:
    return _attributes.get()


def current_span() -> SpanRef | None:
    return _span.get()


def child_span() -> tuple[SpanRef, str | None]:
    """A new span under the current one (or the root of a new trace), and its parent id."""
    parent = _span.get()
    if parent is None:
        return SpanRef(new_trace_id(), new_span_id()), None
    return SpanRef(parent.trace_id, new_span_id()), parent.span_id


@contextmanager
def entered(span: SpanRef) -> Iterator[None]:
    """Make `span` the current span within the block."""
    token = _span.set(span)
    try:
        yield
    finally:
        _span.reset(token)


@contextmanager
def context(
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    experiment: tuple[str, str] | None = None,
    prompt_version: str | None = None,
    feature: str | None = None,
    tags: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Iterator[Attributes]:
    """Attach these fields to every LLM call and span inside the block. Nested blocks
    override single fields, add tags and merge metadata."""
    if experiment is not None and (len(experiment) != 2 or not all(experiment)):
        raise ValueError("experiment must be a (name, variant) pair, e.g. ('checkout', 'B')")
    outer = _attributes.get()
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("user_id", user_id),
            ("session_id", session_id),
            ("experiment", tuple(experiment) if experiment else None),
            ("prompt_version", prompt_version),
            ("feature", feature),
        )
        if value is not None
    }
    if tags:
        changes["tags"] = outer.tags + tuple(t for t in tags if t not in outer.tags)
    if metadata:
        changes["metadata"] = {**outer.metadata, **metadata}
    attributes = replace(outer, **changes)
    token = _attributes.set(attributes)
    try:
        yield attributes
    finally:
        _attributes.reset(token)

"""Alert rules, channels and silences as users write them (API bodies, YAML files), checked.

A rule watches one metric of the project over a sliding window, optionally per group
(each group of `group_by` is an alert instance of its own), and fires when the value
crosses its warning or critical threshold. Rate metrics may ask for a statistical gate:
`confidence: 0.95` fires only when the Wilson bound of the rate is past the threshold.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmpulse.api.bodies import Problem
from llmpulse.api.errors import FieldError
from llmpulse.events.taxonomy import DIMENSIONS
from llmpulse.query import durations

Name = Annotated[str, Field(min_length=1, max_length=200)]
Comparison = Literal[">", ">=", "<", "<="]
NoData = Literal["ok", "keep", "no_data", "alert"]
MIN_WINDOW_S = 60
MAX_WINDOW_S = 7 * 86400


def _duration(value: str, low: int, high: int) -> str:
    total = durations.seconds(value)
    if not low <= total <= high:
        raise ValueError(f"must be from {durations.text(low)} to {durations.text(high)}")
    return value


class Rule(BaseModel):
    """An alert rule. See docs/alerts.md for every field."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: str = Field(
        "metric",
        description="the rule kind (registry): metric, drift, quality, budget, "
        "budget_forecast, sentiment_drop, post_volume, log_count, custom_metric",
    )
    metric: str = Field(
        description="metric: error_rate, latency_p95, ...; drift: a column or dataset; "
        "quality: completeness, freshness_s, gaps, ...; budget kinds: the budget's name; "
        "social kinds: a tracked entity or all; log_count: a level; custom_metric: its name "
        "(docs/alerts.md)"
    )
    filters: dict[str, list[str]] = Field(default_factory=dict)
    group_by: list[str] = Field(default_factory=list, max_length=3)
    comparison: Comparison = ">"
    warning: float | None = None
    critical: float | None = None
    window: str = "5m"
    every: str = Field("1m", description="evaluation interval")
    for_: str = Field("0s", alias="for", description="pending this long before firing")
    keep_firing_for: str = "0s"
    min_requests: int = Field(0, ge=0)
    confidence: float | None = Field(None, gt=0.5, lt=1)
    no_data: NoData = "ok"
    renotify: str | None = None
    channels: list[str] = Field(default_factory=list)
    enabled: bool = True
    params: dict[str, Any] = Field(
        default_factory=dict, description="what a rule kind other than `metric` needs"
    )

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        return _duration(value, MIN_WINDOW_S, MAX_WINDOW_S)

    @field_validator("every")
    @classmethod
    def _every(cls, value: str) -> str:
        return _duration(value, 1, 86400)

    @field_validator("for_", "keep_firing_for")
    @classmethod
    def _hold(cls, value: str) -> str:
        return _duration(value, 0, MAX_WINDOW_S)

    @field_validator("renotify")
    @classmethod
    def _renotify(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value, 60, 30 * 86400)

    @field_validator("filters")
    @classmethod
    def _filters(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name in value:
            if name not in DIMENSIONS:
                raise ValueError(f"unknown dimension {name!r}; one of {', '.join(DIMENSIONS)}")
        return value

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in DIMENSIONS:
                raise ValueError(f"unknown dimension {name!r}; one of {', '.join(DIMENSIONS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.warning is None and self.critical is None:
            raise Problem("critical", "give a warning or a critical threshold (or both)")
        if self.warning is not None and self.critical is not None:
            higher = self.comparison in (">", ">=")
            if (self.critical < self.warning) if higher else (self.critical > self.warning):
                order = "at or above" if higher else "at or below"
                raise Problem("critical", f"must be {order} warning for a {self.comparison!r} rule")
        if durations.seconds(self.window) < durations.seconds(self.every):
            raise Problem("window", "must not be shorter than the evaluation interval (every)")
        return self

    @property
    def window_s(self) -> int:
        return durations.seconds(self.window)

    @property
    def every_s(self) -> int:
        return durations.seconds(self.every)

    @property
    def for_s(self) -> int:
        return durations.seconds(self.for_)

    @property
    def keep_firing_s(self) -> int:
        return durations.seconds(self.keep_firing_for)

    @property
    def renotify_s(self) -> int | None:
        return None if self.renotify is None else durations.seconds(self.renotify)

    def param_seconds(self, name: str, default: str | None, low: int, high: int) -> int | None:
        """The duration in `params[name]` (or `default`), from `low` to `high` seconds;
        None when neither is given. A 422 naming `params.NAME` otherwise."""
        given = self.params.get(name, default)
        if given is None:
            return None
        try:
            seconds = durations.seconds(str(given))
        except ValueError as exc:
            raise FieldError(422, f"params.{name}", str(exc)) from None
        if not low <= seconds <= high:
            span = f"{durations.text(low)} to {durations.text(high)}"
            raise FieldError(422, f"params.{name}", f"must be from {span}")
        return seconds

    def breaches(self, value: float, threshold: float) -> bool:
        return {
            ">": value > threshold,
            ">=": value >= threshold,
            "<": value < threshold,
            "<=": value <= threshold,
        }[self.comparison]

    def public(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


ChannelType = Literal["webhook", "slack", "pagerduty", "email"]


class Channel(BaseModel):
    """Where notifications go. `secret` (webhook: the HMAC key) is never returned."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    type: ChannelType
    url: str | None = Field(None, description="webhook, slack, pagerduty: where to POST")
    secret: str | None = Field(None, description="webhook: HMAC-SHA256 key of the signature")
    routing_key: str | None = Field(None, description="pagerduty: the integration key")
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    email_from: str | None = None
    email_to: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> Channel:
        needs = {
            "webhook": ("url",),
            "slack": ("url",),
            "pagerduty": ("routing_key",),
            "email": ("smtp_host", "email_from", "email_to"),
        }[self.type]
        for field in needs:
            if not getattr(self, field):
                raise Problem(field, f"a {self.type} channel needs it")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise Problem("url", "must be an http(s) URL")
        return self

    def public(self) -> dict[str, Any]:
        shown = self.model_dump(exclude={"secret", "routing_key"})
        shown["secret_set"] = bool(self.secret or self.routing_key)
        return shown


class Silence(BaseModel):
    """Notifications of the instances it matches are held until `ends_at`."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str | None = Field(None, description="one rule, or every rule")
    group: dict[str, str] = Field(default_factory=dict, description="group values to match")
    ends_at: str = Field(description="ISO 8601, or a duration from now: 2h")
    comment: str = Field("", max_length=1000)

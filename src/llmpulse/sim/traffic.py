"""Realistic LLM traffic: models with their own latency, TTFT, token sizes and error mix;
users who join over four weeks and come back less and less (some not at all); sessions
that walk a feature funnel; an A/B experiment whose B is faster but fails more; error
bursts. Deterministic for a given seed."""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class ModelProfile:
    model_id: str
    provider: str
    latency_ms: float  # median; log-normal around it
    latency_sigma: float
    ttft_ms: float  # median
    tokens_in: float  # median
    tokens_out: float  # median
    error_weight: float  # multiplies the base error rate
    share: float  # of traffic


MODELS: tuple[ModelProfile, ...] = (
    ModelProfile("gpt-4o", "openai", 950, 0.45, 380, 700, 260, 1.0, 0.24),
    ModelProfile("gpt-4o-mini", "openai", 520, 0.40, 210, 600, 220, 0.6, 0.22),
    ModelProfile("claude-sonnet-4-5", "anthropic", 1500, 0.50, 620, 900, 380, 1.2, 0.16),
    ModelProfile("claude-haiku-4-5", "anthropic", 650, 0.40, 260, 650, 240, 0.8, 0.12),
    ModelProfile("gemini-2.5-flash", "google", 720, 0.55, 300, 800, 300, 1.0, 0.12),
    ModelProfile("grok-4", "x-ai", 1700, 0.60, 800, 750, 420, 1.5, 0.07),
    ModelProfile("llama3.1:8b", "ollama", 2300, 0.35, 450, 500, 280, 0.7, 0.07),
)
# error type -> (relative weight, HTTP status)
ERRORS: dict[str, tuple[float, int]] = {
    "rate_limit": (0.35, 429),
    "timeout": (0.20, 504),
    "server_error": (0.25, 500),
    "content_filter": (0.07, 400),
    "context_length": (0.08, 400),
    "network": (0.05, 502),
}
PROMPT_VERSIONS = (("pv_1", 0.15), ("pv_2", 0.35), ("pv_3", 0.5))
FUNNEL = ("search", "summarize", "export")  # a session walks it in order, some drop off
FUNNEL_CONTINUE = 0.65
OTHER_FEATURE = "chat"
REGIONS = (("us-east", 0.5), ("eu-central", 0.35), ("ap-south", 0.15))
CLIENTS = ((("web", "macos"), 0.3), (("web", "windows"), 0.25), (("ios", "ios"), 0.2),
           (("android", "android"), 0.15), (("api", "linux"), 0.1))  # fmt: skip
ENVIRONMENTS = (("production", 0.85), ("staging", 0.15))
EXPERIMENT = "reranker_v2"
VARIANT_B_SPEEDUP = 0.8  # variant B is 20% faster...
VARIANT_B_ERRORS = 2.0  # ...but fails twice as often: its error-rate guardrail fails
JOIN_SPREAD_DAYS = 28  # users join over the four weeks before the generator starts
SESSION_IDLE = timedelta(minutes=30)
# Generating the answer takes at least a fifth of a call: tokens/s stays realistic (a
# near-zero generation time would make it explode, and drift tests flap on that tail).
TTFT_MAX_SHARE = 0.8
# Prompts from about 1,024 tokens can be served from a provider's prompt cache.
CACHEABLE_TOKENS = 1024
SESSION_BURST = 0.7  # the share of calls that continue a session under way
MAX_PICKS = 30  # tries to find a user active on the day before taking any
BURST_CHANCE = 0.0002  # per event, a model starts a burst of rate limits or server errors
BURST_LENGTH = 150


PROMPTS = (
    "Summarize the attached quarterly report in three bullet points for the sales team.",
    "Find the documents about the data retention policy and list their owners.",
    "Draft a short, friendly reply to a customer asking when their order will arrive.",
    "Explain the difference between the two pricing plans in plain words.",
    "Export the last month's support tickets as a table with their status.",
)
ANSWERS = (
    "Here is a summary of the report: revenue grew 12% on the quarter, churn fell, and the "
    "new region is ahead of plan. The team should focus on renewals next.",
    "I found four documents about the retention policy. Their owners are the legal team, "
    "the platform team and two product managers; the latest was updated last week.",
    "Thanks for your message! Your order left our warehouse yesterday and should arrive "
    "within two to three business days. We will send you the tracking link shortly.",
    "The basic plan covers one workspace and email support; the pro plan adds unlimited "
    "workspaces, single sign-on and a faster support line. Both bill monthly.",
)
REFUSAL = "I'm sorry, but I can't help with that request."
BASE_REFUSAL_RATE = 0.02


@dataclass(frozen=True)
class Shift:
    """A change in the traffic from a time on, as drift tests and demos inject it."""

    start: datetime
    model_id: str | None = None  # whose calls change (None: every model's)
    latency_factor: float = 1.0
    prompt_version: str | None = None  # whose calls refuse at refusal_rate
    refusal_rate: float | None = None
    new_model: ModelProfile | None = None  # takes new_model.share of the calls


def demo_shifts(now: datetime) -> tuple[Shift, ...]:
    """What `llmpulse demo` injects, so its Drift page has something to find: prompt
    version pv_3 refusing a quarter of the time from five days ago, gpt-4o 40% slower
    from three days ago."""
    return (
        Shift(now - timedelta(days=5), prompt_version="pv_3", refusal_rate=0.25),
        Shift(now - timedelta(days=3), model_id="gpt-4o", latency_factor=1.4),
    )


def _pick(rng: random.Random, options: tuple[tuple[Any, float], ...]) -> Any:
    values, weights = zip(*options, strict=True)
    return rng.choices(values, weights)[0]


class TrafficGenerator:
    def __init__(
        self,
        seed: int = 0,
        users: int = 100,
        error_rate: float = 0.05,
        today: date | None = None,
        text: bool = False,
        shifts: tuple[Shift, ...] = (),
    ) -> None:
        self._rng = random.Random(seed)
        self._text = text  # calls carry a prompt and a completion
        self._shifts = shifts
        self._seed = seed
        self._users = [f"user_{i:04d}" for i in range(users)]
        # Some users are much busier than others (Zipf-like).
        self._user_weights = [1 / (i + 1) ** 0.8 for i in range(users)]
        # Each user joins on a day of the last four weeks and is more or less loyal.
        last = (today or datetime.now(UTC).date()).toordinal() - 1
        self._last_day = last
        self._joined = [last - self._rng.randrange(JOIN_SPREAD_DAYS) for _ in self._users]
        self._loyalty = [self._rng.random() for _ in self._users]
        self._active_days: dict[tuple[int, int], bool] = {}
        # user -> (session id, calls left, next funnel step, time of the last call)
        self._sessions: dict[str, tuple[str, int, int, datetime]] = {}
        self._ongoing: dict[str, datetime] = {}  # users with calls left in a session
        self._error_rate = error_rate
        self._bursts: dict[str, tuple[str, int]] = {}  # model -> (error type, events left)
        self._model_weights = [m.share for m in MODELS]

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _active(self, user: int, day: int) -> bool:
        """Whether the user comes on `day`: always on the day they join, then less and less
        (a loyal user keeps a floor; a disloyal one churns), the same answer every time."""
        age = day - self._joined[user]
        if age < 0:
            return False
        key = (user, day)
        if key not in self._active_days:
            loyalty = self._loyalty[user]
            chance = (0.2 + 0.6 * loyalty) * 0.88**age + 0.15 * loyalty * (loyalty > 0.3)
            # By the day relative to `today`: the same traffic whatever the date.
            roll = random.Random(f"{self._seed}:{user}:{day - self._last_day}").random()
            self._active_days[key] = age == 0 or roll < chance
        return self._active_days[key]

    def _user(self, ts: datetime) -> str:
        """Most calls continue a session under way (sessions come in bursts); the others
        are from a user who comes on that day."""
        for user, last in list(self._ongoing.items()):
            if ts - last > SESSION_IDLE:
                del self._ongoing[user]
        if self._ongoing and self._rng.random() < SESSION_BURST:
            return self._rng.choice(list(self._ongoing))
        day = ts.date().toordinal()
        indices = range(len(self._users))
        for _ in range(MAX_PICKS):
            chosen = self._rng.choices(indices, self._user_weights)[0]
            if self._active(chosen, day):
                return self._users[chosen]
        joined = [i for i in indices if self._joined[i] <= day]  # a quiet day: anyone joined
        return self._users[self._rng.choice(joined) if joined else chosen]

    def _session(self, user: str, ts: datetime) -> tuple[str, str]:
        """The user's session (over after its calls, or after SESSION_IDLE without one)
        and the feature of this call in it."""
        session, left, step, last = self._sessions.get(user, ("", 0, 0, ts))
        if left <= 0 or ts - last > SESSION_IDLE:
            session, left, step = f"sess_{self._uuid()[:12]}", self._rng.randint(2, 12), 0
        feature = OTHER_FEATURE
        if step < len(FUNNEL) and self._rng.random() < 0.7:
            feature = FUNNEL[step]
            step = step + 1 if self._rng.random() < FUNNEL_CONTINUE else len(FUNNEL)
        self._sessions[user] = (session, left - 1, step, ts)
        if left > 1:
            self._ongoing[user] = ts
        else:
            self._ongoing.pop(user, None)
        return session, feature

    def _error(self, model: ModelProfile, weight: float) -> str | None:
        rng = self._rng
        burst = self._bursts.pop(model.model_id, None)
        if burst is None and rng.random() < BURST_CHANCE * self._error_rate / 0.05:
            burst = (rng.choice(("rate_limit", "server_error")), BURST_LENGTH)
        if burst is not None:
            kind, left = burst
            if left > 1:
                self._bursts[model.model_id] = (kind, left - 1)
            if rng.random() < 0.6:
                return kind
        if rng.random() < self._error_rate * model.error_weight * weight:
            return str(_pick(rng, tuple((k, w) for k, (w, _) in ERRORS.items())))
        return None

    def _model(self, ts: datetime, active: list[Shift]) -> ModelProfile:
        for shift in active:
            if shift.new_model is not None and self._rng.random() < shift.new_model.share:
                return shift.new_model
        return self._rng.choices(MODELS, self._model_weights)[0]

    def _text_of(self, prompt_version: str, active: list[Shift]) -> dict[str, str]:
        rate = BASE_REFUSAL_RATE
        for shift in active:
            if shift.refusal_rate is not None and shift.prompt_version in (None, prompt_version):
                rate = shift.refusal_rate
        refuses = self._rng.random() < rate
        return {
            "prompt": self._rng.choice(PROMPTS),
            "completion": REFUSAL if refuses else self._rng.choice(ANSWERS),
        }

    def event(self, ts: datetime) -> dict[str, Any]:
        rng = self._rng
        active = [s for s in self._shifts if ts >= s.start]
        model = self._model(ts, active)
        user = self._user(ts)
        session, feature = self._session(user, ts)
        variant = "B" if hash_bucket(user) else "A"
        speed = VARIANT_B_SPEEDUP if variant == "B" else 1.0
        for shift in active:
            if shift.model_id in (None, model.model_id):
                speed *= shift.latency_factor
        latency = model.latency_ms * speed * math.exp(rng.gauss(0, model.latency_sigma))
        ttft = min(latency * TTFT_MAX_SHARE, model.ttft_ms * speed * math.exp(rng.gauss(0, 0.35)))
        tokens_in = max(1, round(model.tokens_in * math.exp(rng.gauss(0, 0.7))))
        tokens_out = max(1, round(model.tokens_out * math.exp(rng.gauss(0, 0.6))))
        error = self._error(model, VARIANT_B_ERRORS if variant == "B" else 1.0)
        stream = rng.random() < 0.7
        app, os_name = _pick(rng, CLIENTS)
        prompt_version = _pick(rng, PROMPT_VERSIONS)
        event: dict[str, Any] = {
            "event_id": self._uuid(),
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "user_id": user,
            "session_id": session,
            "request_id": f"req_{self._uuid()[:16]}",
            "model_id": model.model_id,
            "provider": model.provider,
            "prompt_version": prompt_version,
            "feature": feature,
            "experiment": {"name": EXPERIMENT, "variant": variant},
            "operation": "chat",
            "region": _pick(rng, REGIONS),
            "environment": _pick(rng, ENVIRONMENTS),
            "client": {"app": app, "os": os_name},
            "stream": stream,
            "temperature": rng.choice((0.0, 0.2, 0.7, 1.0)),
            "max_tokens": 1024,
            "tokens_in": tokens_in,
        }
        if tokens_in >= CACHEABLE_TOKENS:  # long prompts open with their feature's system prompt
            leading = f"{feature}:{prompt_version}".encode()
            event["prompt_prefix_hash"] = hashlib.sha256(leading).hexdigest()[:32]
        if error is None:
            event.update(
                latency_ms=round(latency, 2),
                ttft_ms=round(ttft, 2) if stream else None,
                tokens_out=tokens_out,
                tokens_cached=rng.choice((0, 0, 0, tokens_in // 2)),
                status="ok",
                finish_reason=rng.choices(("stop", "length"), (0.93, 0.07))[0],
                http_status=200,
            )
            if self._text:
                event.update(self._text_of(prompt_version, active))
        else:
            timeout = error == "timeout"
            event.update(
                latency_ms=round(30000 + rng.random() * 30000 if timeout else latency * 0.3, 2),
                tokens_out=0,
                status="error",
                error_type=error,
                http_status=ERRORS[error][1],
            )
        return event


def hash_bucket(user: str) -> bool:
    """Stable 50/50 split of users between experiment variants."""
    return uuid.uuid5(uuid.NAMESPACE_OID, user).int % 2 == 1

"""Event schema v1: one event is one LLM call. See docs/event-schema.md."""

from datetime import datetime
from typing import Annotated, Final, Literal, NotRequired, get_args

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from typing_extensions import TypedDict

from llmpulse.events.taxonomy import ERROR_TYPES, OPERATIONS, STATUSES

MAX_ID_CHARS = 256
MAX_TEXT_CHARS = 1_000_000
MAX_TOKENS = 10_000_000
MAX_LATENCY_MS = 3_600_000
MAX_TAGS = 64
# A single call costing more than this is a bug in the sender, and sums of such values
# would swamp (or overflow) every total of the project.
MAX_COST_USD = 10_000.0
MAX_METADATA_KEYS = 128  # unknown top-level fields count as metadata keys too
MAX_METADATA_VALUE_CHARS = 4096

Id = Annotated[str, StringConstraints(max_length=MAX_ID_CHARS)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]
Tokens = Annotated[int, Field(ge=0, le=MAX_TOKENS)]


def _scalar(value: object) -> object:
    if not isinstance(value, str | bool | int | float):
        raise ValueError("must be a string, number or boolean")
    if isinstance(value, str) and len(value) > MAX_METADATA_VALUE_CHARS:
        raise ValueError(f"must be at most {MAX_METADATA_VALUE_CHARS} characters")
    return value


# One clear error for a bad metadata value, rather than one per member of a union.
Scalar = Annotated[object, AfterValidator(_scalar)]

ResponseFormat = Literal["text", "json"]
Operation = Literal["chat", "completion", "embedding", "tool", "agent", "other"]
Status = Literal["ok", "error"]
ErrorType = Literal[
    "timeout",
    "rate_limit",
    "server_error",
    "client_error",
    "auth",
    "content_filter",
    "context_length",
    "network",
    "cancelled",
    "other",
]


class Experiment(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    name: Id
    variant: Id


class Client(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    app: NotRequired[Id | None]
    os: NotRequired[Id | None]


class EventV1(TypedDict):
    """A v1 event as sent by a client. Validated into a plain dict (fast: no model
    instances); unknown top-level fields are kept in it and end up in `metadata`."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    model_id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
    latency_ms: Annotated[float, Field(ge=0, le=MAX_LATENCY_MS, allow_inf_nan=False)]
    event_id: NotRequired[Id | None]
    ts: NotRequired[datetime | None]
    ttft_ms: NotRequired[Annotated[float, Field(ge=0, allow_inf_nan=False)] | None]
    model_version: NotRequired[Id | None]
    provider: NotRequired[Id | None]
    prompt_version: NotRequired[Id | None]
    # A hash of the call's leading prompt text (the SDK and proxy send it; never the text):
    # calls sharing it could be served from the provider's prompt cache.
    prompt_prefix_hash: NotRequired[Id | None]
    feature: NotRequired[Id | None]
    experiment: NotRequired[Experiment | None]
    operation: NotRequired[Operation | None]
    status: NotRequired[Status | None]
    error_type: NotRequired[ErrorType | None]
    tokens_in: NotRequired[Tokens | None]
    tokens_out: NotRequired[Tokens | None]
    tokens_cached: NotRequired[Tokens | None]
    tokens_reasoning: NotRequired[Tokens | None]
    cost_usd: NotRequired[
        Annotated[float, Field(ge=0, le=MAX_COST_USD, allow_inf_nan=False)] | None
    ]
    stream: NotRequired[bool | None]
    temperature: NotRequired[Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None]
    max_tokens: NotRequired[Tokens | None]
    finish_reason: NotRequired[Id | None]
    http_status: NotRequired[Annotated[int, Field(ge=100, le=599)] | None]
    user_id: NotRequired[Id | None]
    session_id: NotRequired[Id | None]
    request_id: NotRequired[Id | None]
    trace_id: NotRequired[Id | None]
    span_id: NotRequired[Id | None]
    parent_span_id: NotRequired[Id | None]
    region: NotRequired[Id | None]
    environment: NotRequired[Id | None]
    client: NotRequired[Client | None]
    prompt: NotRequired[Text | None]
    completion: NotRequired[Text | None]
    # What the call asked the model for: "json" when it requested a JSON answer (OpenAI's
    # response_format json_object/json_schema), so the completion's validity is checked.
    response_format: NotRequired[ResponseFormat | None]
    metadata: NotRequired[Annotated[dict[Id, Scalar], Field(max_length=MAX_METADATA_KEYS)] | None]
    tags: NotRequired[Annotated[list[Id], Field(max_length=MAX_TAGS)] | None]


EVENT_FIELDS: Final = frozenset(EventV1.__annotations__) - {"__pydantic_config__"}
event_validator: Final = TypeAdapter(EventV1)


# Kept beside the Literals above so a mismatch is caught at import, not in production.
assert set(OPERATIONS) == set(get_args(Operation))
assert set(STATUSES) == set(get_args(Status))
assert set(ERROR_TYPES) == set(get_args(ErrorType))


def field_path(loc: tuple[int | str, ...]) -> str:
    """The dotted field name of a pydantic error location, e.g. `experiment.variant`."""
    return ".".join(str(part) for part in loc)


def error_message(msg: str) -> str:
    """A pydantic message without the 'Value error, ' our own validators get."""
    return msg.removeprefix("Value error, ")


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, reason) of each error pydantic found."""
    return [(field_path(e["loc"]), error_message(e["msg"])) for e in exc.errors(include_url=False)]

"""The official `openai` client: chat completions, completions, embeddings and responses,
sync and async, streaming and not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from llmpulse.events.content import messages_text
from llmpulse.sdk.calls import LlmCall
from llmpulse.sdk.instruments.patching import Endpoint, Fields, attr, patch, unpatch

PROVIDER = "openai"


def usage_fields(usage: Any) -> Fields:
    """Token counts of a Chat Completions or a Responses `usage` object."""
    if usage is None:
        return {}
    tokens_in = attr(usage, "prompt_tokens")
    if tokens_in is None:
        tokens_in = attr(usage, "input_tokens")
    tokens_out = attr(usage, "completion_tokens")
    if tokens_out is None:
        tokens_out = attr(usage, "output_tokens")
    cached = attr(usage, "prompt_tokens_details", "cached_tokens")
    if cached is None:
        cached = attr(usage, "input_tokens_details", "cached_tokens")
    reasoning = attr(usage, "completion_tokens_details", "reasoning_tokens")
    if reasoning is None:
        reasoning = attr(usage, "output_tokens_details", "reasoning_tokens")
    return {
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "tokens_cached": cached,
        "tokens_reasoning": reasoning,
    }


def _common(response: Any) -> Fields:
    return {
        "model_version": attr(response, "model"),
        "request_id": getattr(response, "_request_id", None) or attr(response, "id"),
        **usage_fields(attr(response, "usage")),
    }


def _ask_usage(kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    options = kwargs.get("stream_options")
    if isinstance(options, Mapping) and options.get("include_usage"):
        return kwargs, False
    base = dict(options) if isinstance(options, Mapping) else {}
    return {**kwargs, "stream_options": {**base, "include_usage": True}}, True


def _chunk_usage_and_model(call: LlmCall, chunk: Any, choices: Any, injected: bool) -> bool:
    """What every Chat/Completions stream chunk may carry besides text: usage (the last
    one) and the model that answers. True for the usage-only chunk we asked for."""
    usage = attr(chunk, "usage")
    if usage is not None:
        call.fields.update(usage_fields(usage))
    if "model_version" not in call.fields and attr(chunk, "model"):
        call.fields["model_version"] = attr(chunk, "model")
        call.fields["request_id"] = getattr(chunk, "_request_id", None) or attr(chunk, "id")
    return injected and not choices and usage is not None


# --- chat completions --------------------------------------------------------------------


def _chat_response(response: Any) -> Fields:
    choice = (attr(response, "choices") or [None])[0]
    return {
        **_common(response),
        "finish_reason": attr(choice, "finish_reason"),
        "completion": attr(choice, "message", "content"),
    }


def _chat_chunk(call: LlmCall, chunk: Any, injected: bool) -> bool:
    choices = attr(chunk, "choices")
    content = None
    if choices:
        choice = choices[0]
        delta = attr(choice, "delta")
        content = attr(delta, "content")
        if call.parts is not None and content:
            call.parts.append(content)
        if attr(choice, "finish_reason"):
            call.fields["finish_reason"] = attr(choice, "finish_reason")
        content = content or attr(delta, "tool_calls") or attr(delta, "refusal")
    call.chunk(bool(content))
    return _chunk_usage_and_model(call, chunk, choices, injected)


# --- legacy completions ------------------------------------------------------------------


def _completion_response(response: Any) -> Fields:
    choice = (attr(response, "choices") or [None])[0]
    return {
        **_common(response),
        "finish_reason": attr(choice, "finish_reason"),
        "completion": attr(choice, "text"),
    }


def _completion_chunk(call: LlmCall, chunk: Any, injected: bool) -> bool:
    choices = attr(chunk, "choices")
    text = attr(choices[0], "text") if choices else None
    if call.parts is not None and text:
        call.parts.append(text)
    if choices and attr(choices[0], "finish_reason"):
        call.fields["finish_reason"] = attr(choices[0], "finish_reason")
    call.chunk(bool(text))
    return _chunk_usage_and_model(call, chunk, choices, injected)


# --- responses ----------------------------------------------------------------------------


def _responses_prompt(kwargs: Mapping[str, Any]) -> Any:
    instructions, given = kwargs.get("instructions"), kwargs.get("input")
    if not isinstance(instructions, str):
        return given
    messages = given if isinstance(given, list) else [{"role": "user", "content": given}]
    return [{"role": "system", "content": instructions}, *messages]


def _output_text(response: Any) -> str:
    """The text of a response's output messages: what the client's `output_text` gives,
    read from the JSON too (the proxy's case)."""
    return "".join(
        attr(part, "text") or ""
        for item in attr(response, "output") or ()
        if attr(item, "type") == "message"
        for part in attr(item, "content") or ()
        if attr(part, "type") == "output_text"
    )


def _responses_response(response: Any) -> Fields:
    incomplete = attr(response, "incomplete_details", "reason")
    return {
        **_common(response),
        "finish_reason": incomplete or attr(response, "status"),
        "completion": _output_text(response),
    }


def _responses_chunk(call: LlmCall, chunk: Any, injected: bool) -> bool:
    kind = attr(chunk, "type") or ""
    if kind == "response.output_text.delta":
        delta = attr(chunk, "delta")
        if call.parts is not None and delta:
            call.parts.append(delta)
        call.chunk(bool(delta))
    else:
        call.chunk(kind.endswith(".delta"))
    if kind in ("response.completed", "response.incomplete", "response.failed"):
        response = attr(chunk, "response")
        fields = _responses_response(response)
        fields.pop("completion", None)
        call.fields.update({k: v for k, v in fields.items() if v is not None})
        if kind == "response.failed":
            call.fields.update(status="error", error_type="server_error")
    return False


def _embedding_prompt(kwargs: Mapping[str, Any]) -> Any:
    given = kwargs.get("input")
    return given if isinstance(given, str) else None


ENDPOINTS = (
    Endpoint(
        "openai.resources.chat.completions.completions",
        "Completions",
        "AsyncCompletions",
        PROVIDER,
        "chat",
        prompt=lambda kw: kw.get("messages"),
        response=_chat_response,
        chunk=_chat_chunk,
        ask_usage=_ask_usage,
    ),
    Endpoint(
        "openai.resources.completions",
        "Completions",
        "AsyncCompletions",
        PROVIDER,
        "completion",
        prompt=lambda kw: messages_text(kw.get("prompt")),
        response=_completion_response,
        chunk=_completion_chunk,
        ask_usage=_ask_usage,
    ),
    Endpoint(
        "openai.resources.embeddings",
        "Embeddings",
        "AsyncEmbeddings",
        PROVIDER,
        "embedding",
        prompt=_embedding_prompt,
        response=_common,
    ),
    Endpoint(
        "openai.resources.responses.responses",
        "Responses",
        "AsyncResponses",
        PROVIDER,
        "chat",
        prompt=_responses_prompt,
        response=_responses_response,
        chunk=_responses_chunk,
    ),
)


# The .parse() helpers post on their own; the .stream() ones go through create().
PARSE = tuple(
    replace(endpoint, method="parse", chunk=None, ask_usage=None)
    for endpoint in (ENDPOINTS[0], ENDPOINTS[3])  # chat completions, responses
)


def instrument_openai() -> bool:
    """Record every call of the `openai` client; False when it is not installed."""
    return any([patch(endpoint) for endpoint in (*ENDPOINTS, *PARSE)])


def uninstrument_openai() -> None:
    unpatch("openai.")

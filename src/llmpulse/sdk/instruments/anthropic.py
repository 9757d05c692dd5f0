"""The official `anthropic` client: messages.create, .parse and .stream, sync and async."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from llmpulse.sdk.calls import LlmCall
from llmpulse.sdk.instruments.patching import Endpoint, Fields, attr, patch, unpatch


def usage_fields(usage: Any) -> Fields:
    """Anthropic counts cache reads and writes apart from input_tokens; v1's tokens_in
    includes them (tokens_cached is the part of tokens_in read from the cache)."""
    if usage is None:
        return {}
    read = attr(usage, "cache_read_input_tokens") or 0
    written = attr(usage, "cache_creation_input_tokens") or 0
    fields: Fields = {"tokens_out": attr(usage, "output_tokens")}
    tokens_in = attr(usage, "input_tokens")
    if tokens_in is not None:
        fields["tokens_in"] = tokens_in + read + written
        fields["tokens_cached"] = read
    return fields


def _prompt(kwargs: Mapping[str, Any]) -> Any:
    system, messages = kwargs.get("system"), kwargs.get("messages")
    if not system or not isinstance(messages, list):
        return messages
    return [{"role": "system", "content": system}, *messages]


def _text(blocks: Any) -> str:
    return "".join(attr(b, "text") or "" for b in blocks or () if attr(b, "type") == "text")


def _response(message: Any) -> Fields:
    return {
        "model_version": attr(message, "model"),
        "request_id": getattr(message, "_request_id", None) or attr(message, "id"),
        "finish_reason": attr(message, "stop_reason"),
        "completion": _text(attr(message, "content")),
        **usage_fields(attr(message, "usage")),
    }


def _chunk(call: LlmCall, chunk: Any, injected: bool) -> bool:
    kind = attr(chunk, "type")
    if kind == "content_block_delta":
        text = attr(chunk, "delta", "text")
        if call.parts is not None and text:
            call.parts.append(text)
        call.chunk(True)
        return False
    call.chunk(False)
    if kind == "message_start":
        message = attr(chunk, "message")
        call.fields.update(_response(message))
        call.fields.pop("completion", None)
        call.fields.pop("finish_reason", None)
    elif kind == "message_delta":
        if attr(chunk, "delta", "stop_reason"):
            call.fields["finish_reason"] = attr(chunk, "delta", "stop_reason")
        output = attr(chunk, "usage", "output_tokens")
        if output is not None:
            call.fields["tokens_out"] = output
    elif kind == "error":
        error = attr(chunk, "error")
        call.fields.update(status="error", error_type=_stream_error(attr(error, "type")))
    return False


def _stream_error(kind: Any) -> str:
    return {"overloaded_error": "server_error", "rate_limit_error": "rate_limit"}.get(
        str(kind), "server_error"
    )


ENDPOINT = Endpoint(
    "anthropic.resources.messages.messages",
    "Messages",
    "AsyncMessages",
    "anthropic",
    "chat",
    prompt=_prompt,
    response=_response,
    chunk=_chunk,
)


# messages.parse() and messages.stream() post on their own, not through create().
HELPERS = (
    replace(ENDPOINT, method="parse", chunk=None),
    replace(ENDPOINT, method="stream", manager=True),
)


def instrument_anthropic() -> bool:
    """Record every messages.create, .parse and .stream call of the `anthropic` client;
    False when it is not installed."""
    return any([patch(endpoint) for endpoint in (ENDPOINT, *HELPERS)])


def uninstrument_anthropic() -> None:
    unpatch("anthropic.")

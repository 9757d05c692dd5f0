"""LangChain callbacks: chat model and LLM runs become LLMPulse events (latency, TTFT,
tokens, model, errors); chains, tools and retrievers become spans of the same trace.

    from llmpulse.integrations.langchain import CallbackHandler
    chain.invoke(inputs, config={"callbacks": [CallbackHandler()]})

Use it instead of `llmpulse.instrument()` for calls made through LangChain, or a call
made through langchain-openai would be recorded twice.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from llmpulse.sdk.calls import LlmCall, safely
from llmpulse.sdk.context import SpanRef, child_span
from llmpulse.sdk.spans import Span

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
_PROVIDERS = {"chat_models", "llms", "language_models"}


def _provider(serialized: dict[str, Any] | None, metadata: dict[str, Any]) -> str | None:
    """LangChain's own `ls_provider`, else the integration's package (langchain_openai...)."""
    if metadata.get("ls_provider"):
        return str(metadata["ls_provider"])
    path = (serialized or {}).get("id") or []
    for part in path:
        if isinstance(part, str) and part.startswith("langchain_") and part != "langchain_core":
            return part.removeprefix("langchain_")
    return None


def _model(
    serialized: dict[str, Any] | None, metadata: dict[str, Any], params: dict[str, Any]
) -> str:
    for value in (
        metadata.get("ls_model_name"),
        params.get("model"),
        params.get("model_name"),
        params.get("model_id"),
        (serialized or {}).get("name"),
    ):
        if value:
            return str(value)
    return "unknown"


def _messages(messages: list[list[Any]]) -> list[dict[str, Any]]:
    """The first prompt's messages as role/content dicts, in the roles the SDK uses."""
    first = messages[0] if messages else []
    return [
        {"role": _ROLES.get(getattr(m, "type", ""), getattr(m, "type", "")), "content": m.content}
        for m in first
    ]


def _usage(response: LLMResult) -> dict[str, Any]:
    """Tokens from the message's usage_metadata (every chat model), else llm_output."""
    generation = (
        response.generations[0][0] if response.generations and response.generations[0] else None
    )
    message = getattr(generation, "message", None)
    usage = getattr(message, "usage_metadata", None)
    if usage:
        return {
            "tokens_in": usage.get("input_tokens"),
            "tokens_out": usage.get("output_tokens"),
            "tokens_cached": (usage.get("input_token_details") or {}).get("cache_read"),
            "tokens_reasoning": (usage.get("output_token_details") or {}).get("reasoning"),
        }
    token_usage = (response.llm_output or {}).get("token_usage") or {}
    return {
        "tokens_in": token_usage.get("prompt_tokens"),
        "tokens_out": token_usage.get("completion_tokens"),
    }


def _finish(response: LLMResult) -> dict[str, Any]:
    generation = (
        response.generations[0][0] if response.generations and response.generations[0] else None
    )
    if generation is None:
        return {}
    info = generation.generation_info or {}
    message = getattr(generation, "message", None)
    meta = getattr(message, "response_metadata", None) or {}
    return {
        "completion": generation.text,
        "finish_reason": info.get("finish_reason")
        or meta.get("finish_reason")
        or meta.get("stop_reason"),
        "model_version": meta.get("model_name") or meta.get("model"),
        **_usage(response),
    }


class CallbackHandler(BaseCallbackHandler):
    """Records LangChain runs with the SDK (call `llmpulse.init()` first)."""

    raise_error = False  # a failure of ours never breaks the chain
    run_inline = True  # callbacks in the caller's thread and context

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._places: dict[UUID, SpanRef] = {}
        self._calls: dict[UUID, LlmCall] = {}
        self._spans: dict[UUID, Span] = {}

    # --- the run tree ----------------------------------------------------------------------

    def _place(self, run_id: UUID, parent_run_id: UUID | None) -> tuple[SpanRef, str | None]:
        """This run's span under its parent run's; a root run goes under the SDK's current
        span (an @observe function), or starts a trace."""
        # LangChain's run ids are time-ordered (UUIDv7): their random half makes the span id.
        span_id = run_id.hex[16:]
        place: tuple[SpanRef, str | None]
        with self._lock:
            parent = self._places.get(parent_run_id) if parent_run_id else None
            if parent is not None:
                place = SpanRef(parent.trace_id, span_id), parent.span_id
            else:
                ref, parent_id = child_span()
                place = SpanRef(ref.trace_id, span_id), parent_id
            self._places[run_id] = place[0]
        return place

    def _forget(self, run_id: UUID) -> None:
        with self._lock:
            self._places.pop(run_id, None)

    # --- model runs ------------------------------------------------------------------------

    def _start_call(
        self,
        serialized: dict[str, Any] | None,
        prompt: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
    ) -> None:
        metadata = metadata or {}
        params = kwargs.get("invocation_params") or {}
        request = {
            "model": _model(serialized, metadata, params),
            "temperature": params.get("temperature", metadata.get("ls_temperature")),
            "max_tokens": params.get("max_tokens", metadata.get("ls_max_tokens")),
            "stream": bool(params.get("stream")),
        }
        place = self._place(run_id, parent_run_id)
        call = LlmCall.start(
            _provider(serialized, metadata) or "unknown", "chat", request, lambda _: prompt, place
        )
        if call is not None:
            self._calls[run_id] = call

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        safely(
            self._start_call,
            serialized,
            _messages(messages),
            run_id,
            parent_run_id,
            metadata,
            kwargs,
        )

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        prompt = prompts[0] if prompts else None
        safely(self._start_call, serialized, prompt, run_id, parent_run_id, metadata, kwargs)
        call = self._calls.get(run_id)
        if call is not None:
            call.event["operation"] = "completion"

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._calls.get(run_id)
        if call is not None:
            call.event["stream"] = True
            call.chunk(bool(token))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._calls.pop(run_id, None)
        self._forget(run_id)
        if call is not None:
            fields = safely(_finish, response) or {}
            safely(call.finish, **fields)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._calls.pop(run_id, None)
        self._forget(run_id)
        if call is not None:
            safely(call.fail, error)

    # --- chains, tools, retrievers --------------------------------------------------------

    def _start_span(
        self,
        kind: str,
        serialized: dict[str, Any] | None,
        inputs: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        kwargs: dict[str, Any],
    ) -> None:
        name = kwargs.get("name") or (serialized or {}).get("name") or kind
        self._spans[run_id] = Span(str(name), kind, inputs, self._place(run_id, parent_run_id))

    def _end_span(
        self, run_id: UUID, output: Any = None, error: BaseException | None = None
    ) -> None:
        span = self._spans.pop(run_id, None)
        self._forget(run_id)
        if span is not None:
            safely(span.end, output, error)

    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        safely(self._start_span, "chain", serialized, inputs, run_id, parent_run_id, kwargs)

    def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        self._end_span(run_id, outputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_span(run_id, error=error)

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        inputs = kwargs.get("inputs") or input_str
        safely(self._start_span, "tool", serialized, inputs, run_id, parent_run_id, kwargs)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_span(run_id, getattr(output, "content", output))

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_span(run_id, error=error)

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        safely(self._start_span, "retriever", serialized, query, run_id, parent_run_id, kwargs)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        self._end_span(run_id, [getattr(d, "page_content", str(d)) for d in documents])

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_span(run_id, error=error)

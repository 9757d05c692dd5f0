"""`@observe`: custom spans around functions, coroutines and generators of the app.

LLM calls made inside an observed function become its children, so a trace shows the
agent, its tools and its model calls as one tree.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, TypeVar, overload

from llmpulse.sdk import client
from llmpulse.sdk.calls import classify, safely
from llmpulse.sdk.context import SpanRef, child_span, current_attributes, entered

MAX_IO_CHARS = 10_000
F = TypeVar("F", bound=Callable[..., Any])


def _describe(value: Any) -> str:
    try:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text[:MAX_IO_CHARS]


class Span:
    """One running custom span."""

    __slots__ = ("record", "ref")

    def __init__(
        self,
        name: str,
        kind: str,
        inputs: Any,
        place: tuple[SpanRef, str | None] | None = None,
    ) -> None:
        """`place` is (this span, its parent's id) when the caller tracks the tree itself
        (LangChain callbacks); by default the span goes under the current one."""
        self.ref, parent = place or child_span()
        attributes = current_attributes()
        record: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "trace_id": self.ref.trace_id,
            "span_id": self.ref.span_id,
            "parent_span_id": parent,
            "start_ns": time.time_ns(),
            "user_id": attributes.user_id,
            "session_id": attributes.session_id,
            "tags": list(attributes.tags),
            "metadata": dict(attributes.metadata),
        }
        if inputs is not None and client.settings().capture_content:
            record["input"] = _describe(inputs)
        self.record = record

    def end(self, output: Any = None, error: BaseException | None = None) -> None:
        record = self.record
        record["end_ns"] = time.time_ns()
        if error is not None:
            record["error_type"] = classify(error)[0]
            record["error_message"] = f"{type(error).__name__}: {error}"[:MAX_IO_CHARS]
        elif output is not None and client.settings().capture_content:
            record["output"] = _describe(output)
        if client.sampled(record["trace_id"]):
            client.emit_span(record)


@overload
def observe(fn: F) -> F: ...
@overload
def observe(
    *, name: str | None = None, kind: str = "chain", capture: bool = True
) -> Callable[[F], F]: ...


def observe(
    fn: F | None = None, *, name: str | None = None, kind: str = "chain", capture: bool = True
) -> F | Callable[[F], F]:
    """Record each call of the decorated function as a span named `name` (default: the
    function's qualified name) of `kind` (chain, agent, tool, retriever, ...). Its
    arguments and result are the span's input and output unless capture=False or the SDK
    was initialised with capture_content=False. Works on sync and async functions and
    generators; an exception is recorded and re-raised."""

    def decorate(fn: F) -> F:
        span_name = name or fn.__qualname__
        signature = inspect.signature(fn)

        def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Span:
            inputs = None
            if capture:
                bound = signature.bind_partial(*args, **kwargs).arguments
                inputs = {k: v for k, v in bound.items() if k not in ("self", "cls")}
            return Span(span_name, kind, inputs)

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                return _watch_async_generator(lambda: start(args, kwargs), fn(*args, **kwargs))

            return agen_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                span = start(args, kwargs)
                try:
                    with entered(span.ref):
                        result = await fn(*args, **kwargs)
                except BaseException as exc:
                    safely(span.end, None, exc)
                    raise
                safely(span.end, result)
                return result

            return async_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                return _watch_generator(lambda: start(args, kwargs), fn(*args, **kwargs))

            return gen_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            span = start(args, kwargs)
            try:
                with entered(span.ref):
                    result = fn(*args, **kwargs)
            except BaseException as exc:
                safely(span.end, None, exc)
                raise
            safely(span.end, result)
            return result

        return sync_wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


def _watch_generator(
    start: Callable[[], Span], gen: Generator[Any, Any, Any]
) -> Generator[Any, Any, Any]:
    """Drive `gen` with its span current while it runs (and only then: between items the
    caller's own span is current), passing sent values and thrown exceptions through. The
    span starts at the first item, as the generator's body does."""
    span = start()
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            with entered(span.ref):
                item = gen.throw(thrown) if thrown is not None else gen.send(sent)
        except StopIteration as stop:
            safely(span.end, stop.value)
            return stop.value
        except BaseException as exc:
            safely(span.end, None, exc)
            raise
        sent, thrown = None, None
        try:
            sent = yield item
        except GeneratorExit:
            gen.close()
            safely(span.end)
            raise
        except BaseException as exc:
            thrown = exc


async def _watch_async_generator(
    start: Callable[[], Span], gen: AsyncGenerator[Any, Any]
) -> AsyncGenerator[Any, Any]:
    """As `_watch_generator`, for async generators."""
    span = start()
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            with entered(span.ref):
                item = await (gen.athrow(thrown) if thrown is not None else gen.asend(sent))
        except StopAsyncIteration:
            safely(span.end)
            return
        except BaseException as exc:
            safely(span.end, None, exc)
            raise
        sent, thrown = None, None
        try:
            sent = yield item
        except GeneratorExit:
            await gen.aclose()
            safely(span.end)
            raise
        except BaseException as exc:
            thrown = exc

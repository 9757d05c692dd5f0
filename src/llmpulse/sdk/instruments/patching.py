"""Wrapping a client library's methods so each call emits one event, and unwrapping them.

An `Endpoint` says how to read one API method (request prompt, response fields, stream
chunks); `patch` wraps its sync and async variants with the same logic.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from llmpulse.sdk.calls import LlmCall, safely
from llmpulse.sdk.streams import AsyncStream, SyncStream

Fields = dict[str, Any]


class Chunk(Protocol):
    """Reads a chunk into the call; True when the chunk is the usage chunk we asked for on
    the caller's behalf (`injected`), which the caller must not see."""

    def __call__(self, call: LlmCall, chunk: Any, injected: bool) -> bool: ...


# Asks the API for stream usage when the caller did not: (kwargs to send, injected).
AskUsage = Callable[[dict[str, Any]], tuple[dict[str, Any], bool]]


@dataclass(frozen=True)
class Endpoint:
    module: str
    sync_class: str
    async_class: str
    provider: str
    operation: str
    prompt: Callable[[Mapping[str, Any]], Any]
    response: Callable[[Any], Fields]
    chunk: Chunk | None = None
    ask_usage: AskUsage | None = None
    method: str = "create"
    # The method returns a stream manager that sends the request when entered
    # (anthropic's messages.stream()), rather than the answer or the stream itself.
    manager: bool = False


# (class, attribute name, original function) of every method we replaced.
_patched: list[tuple[type, str, Any]] = []


def patch(endpoint: Endpoint) -> bool:
    """Wrap the endpoint's methods; False when the library lacks them (another version)."""
    try:
        module = importlib.import_module(endpoint.module)
    except ImportError:
        return False
    done = False
    makers = (
        (_manager(_observed_request), _manager(_observed_awaitable))
        if endpoint.manager
        else (_sync, _async)
    )
    for class_name, make in zip((endpoint.sync_class, endpoint.async_class), makers, strict=True):
        cls = getattr(module, class_name, None)
        original = cls.__dict__.get(endpoint.method) if cls is not None else None
        if cls is None or original is None or getattr(original, "_llmpulse", False):
            continue
        wrapper = make(endpoint, original)
        wrapper._llmpulse = True  # type: ignore[attr-defined]
        setattr(cls, endpoint.method, wrapper)
        _patched.append((cls, endpoint.method, original))
        done = True
    return done


def unpatch(module_prefix: str) -> None:
    """Restore the originals of every method patched in modules under `module_prefix`."""
    for entry in list(_patched):
        cls, name, original = entry
        if cls.__module__.startswith(module_prefix):
            setattr(cls, name, original)
            _patched.remove(entry)


def _raw(kwargs: Mapping[str, Any]) -> bool:
    """`.with_raw_response` / `.with_streaming_response`: the caller gets the HTTP response,
    not parsed objects, so the call is timed but not read."""
    headers = kwargs.get("extra_headers")
    return isinstance(headers, Mapping) and any(
        k.lower().startswith("x-stainless-raw-response")
        or k.lower() == "x-stainless-streamed-raw-response"
        for k in headers
    )


def _begin(
    endpoint: Endpoint, kwargs: dict[str, Any]
) -> tuple[LlmCall | None, dict[str, Any], bool]:
    call = safely(LlmCall.start, endpoint.provider, endpoint.operation, kwargs, endpoint.prompt)
    injected = False
    if (
        call is not None
        and kwargs.get("stream") is True
        and endpoint.ask_usage
        and not _raw(kwargs)
    ):
        asked = safely(endpoint.ask_usage, kwargs)
        if asked is not None:
            kwargs, injected = asked
    return call, kwargs, injected


def _wrap_stream(
    endpoint: Endpoint,
    call: LlmCall,
    kwargs: Mapping[str, Any],
    result: Any,
    injected: bool,
    stream_class: type[SyncStream | AsyncStream],
) -> tuple[Any, bool]:
    """(what to return, whether it is a stream we now watch). The class follows the method
    (sync or async), not the result: another instrumentation's proxy may offer both."""
    if kwargs.get("stream") is not True or endpoint.chunk is None or _raw(kwargs):
        return result, False
    on_chunk = functools.partial(endpoint.chunk, injected=injected)
    return stream_class(result, call, on_chunk), True


def _complete(endpoint: Endpoint, call: LlmCall, kwargs: Mapping[str, Any], result: Any) -> None:
    call.finish(**({} if _raw(kwargs) else endpoint.response(result)))


def _sync(endpoint: Endpoint, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        call, kwargs, injected = _begin(endpoint, kwargs)
        if call is None:
            return original(self, *args, **kwargs)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            safely(call.fail, exc)
            raise
        wrapped = safely(_wrap_stream, endpoint, call, kwargs, result, injected, SyncStream)
        if wrapped is not None and wrapped[1]:
            return wrapped[0]
        safely(_complete, endpoint, call, kwargs, result)
        return result

    return wrapper


def _async(endpoint: Endpoint, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        call, kwargs, injected = _begin(endpoint, kwargs)
        if call is None:
            return await original(self, *args, **kwargs)
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as exc:  # asyncio cancellation included
            safely(call.fail, exc)
            raise
        wrapped = safely(_wrap_stream, endpoint, call, kwargs, result, injected, AsyncStream)
        if wrapped is not None and wrapped[1]:
            return wrapped[0]
        safely(_complete, endpoint, call, kwargs, result)
        return result

    return wrapper


def _request_attribute(manager: Any) -> str | None:
    """The manager's private request, e.g. `_MessageStreamManager__api_request`; None in
    a library version that keeps it elsewhere (the call then goes unrecorded)."""
    return next((str(name) for name in vars(manager) if name.endswith("__api_request")), None)


def _stream_start(endpoint: Endpoint, kwargs: Mapping[str, Any]) -> LlmCall | None:
    return safely(
        LlmCall.start, endpoint.provider, endpoint.operation, {**kwargs, "stream": True},
        endpoint.prompt,
    )  # fmt: skip


def _observed_request(endpoint: Endpoint, request: Any, kwargs: Mapping[str, Any]) -> Any:
    """A sync manager's request, a function called on entering: now it records the call
    and watches the stream it returns."""

    def observed() -> Any:
        call = _stream_start(endpoint, kwargs)
        if call is None:
            return request()
        try:
            stream = request()
        except BaseException as exc:
            safely(call.fail, exc)
            raise
        return SyncStream(stream, call, _on_chunk(endpoint))

    return observed


async def _observed_awaitable(endpoint: Endpoint, request: Any, kwargs: Mapping[str, Any]) -> Any:
    """An async manager's request is an awaitable, awaited on entering; calling this gives
    the awaitable that replaces it."""
    call = _stream_start(endpoint, kwargs)
    if call is None:
        return await request
    try:
        stream = await request
    except BaseException as exc:  # asyncio cancellation included
        safely(call.fail, exc)
        raise
    return AsyncStream(stream, call, _on_chunk(endpoint))


def _on_chunk(endpoint: Endpoint) -> Callable[[LlmCall, Any], bool]:
    assert endpoint.chunk is not None
    return functools.partial(endpoint.chunk, injected=False)


def _manager(
    observe: Callable[[Endpoint, Any, Mapping[str, Any]], Any],
) -> Callable[[Endpoint, Callable[..., Any]], Callable[..., Any]]:
    """Wraps a method that returns a stream manager: the manager's request is swapped for
    `observe`'s, so the call is recorded when the manager is entered."""

    def make(endpoint: Endpoint, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            manager = original(self, *args, **kwargs)
            name = safely(_request_attribute, manager)
            if name is not None:
                setattr(manager, name, observe(endpoint, getattr(manager, name), kwargs))
            return manager

        return wrapper

    return make


def attr(obj: Any, *path: str) -> Any:
    """obj.a.b.c, or None where a link is missing (responses vary across API versions)."""
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj

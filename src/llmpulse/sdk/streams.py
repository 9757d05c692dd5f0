"""Stream wrappers: every chunk passes through unchanged while the call is timed.

They are transparent proxies (wrapt), so `isinstance(stream, openai.Stream)`, attributes
such as `.response`, and context-manager use all keep working. The call ends when the
stream is exhausted, fails, is closed early, or is dropped without being finished (then
it counts as cancelled, timed at the last chunk the caller read).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wrapt

from llmpulse.sdk.calls import LlmCall, safely

# Reads one chunk into the call; returns True for a chunk the caller must not see (the
# usage chunk we asked for on its behalf).
ChunkHandler = Callable[[LlmCall, Any], bool]


class _Watched(wrapt.ObjectProxy[Any]):
    """What both stream wrappers share: the call, and ending it when the caller stops."""

    def __init__(self, stream: Any, call: LlmCall, on_chunk: ChunkHandler) -> None:
        super().__init__(stream)
        self._self_call = call
        self._self_on_chunk = on_chunk

    def _self_end(self) -> None:
        if not self._self_call.done:
            safely(self._self_call.cancel)

    def __del__(self) -> None:
        if not self._self_call.done:
            safely(self._self_call.cancel, True)


class SyncStream(_Watched):
    def __iter__(self) -> SyncStream:
        return self

    def __next__(self) -> Any:
        call = self._self_call
        while True:
            try:
                chunk = self.__wrapped__.__next__()
            except StopIteration:
                safely(call.finish)
                raise
            except BaseException as exc:  # task cancellation included
                safely(call.fail, exc)
                raise
            if not safely(self._self_on_chunk, call, chunk):
                return chunk

    def __enter__(self) -> SyncStream:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        self._self_end()
        return self.__wrapped__.__exit__(*exc_info)

    def close(self) -> Any:
        self._self_end()
        return self.__wrapped__.close()


class AsyncStream(_Watched):
    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Any:
        call = self._self_call
        while True:
            try:
                chunk = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                safely(call.finish)
                raise
            except BaseException as exc:  # task cancellation included
                safely(call.fail, exc)
                raise
            if not safely(self._self_on_chunk, call, chunk):
                return chunk

    async def __aenter__(self) -> AsyncStream:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        self._self_end()
        return await self.__wrapped__.__aexit__(*exc_info)

    async def close(self) -> Any:
        self._self_end()
        return await self.__wrapped__.close()

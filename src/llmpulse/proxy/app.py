"""The proxy: a reverse proxy for the OpenAI and Anthropic HTTP APIs that records one event
per LLM call, reusing the SDK's readers of requests, responses and stream chunks (they read
JSON dicts as well as client objects) and its exporter (buffered, retried, never in the
way of a call).

Callers change only their base URL. Their headers (credentials included) go upstream as
they are, except the `X-LLMPulse-*` ones, which set the event's context. Streams are
forwarded event by event as they arrive.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import orjson
from starlette.responses import JSONResponse, Response

import llmpulse
from llmpulse.events.errors import error_type_for
from llmpulse.proxy.incoming import BodyTooLarge, Incoming, read_incoming
from llmpulse.proxy.relay import COMPLETED, DISCONNECTED, Receive, Relay, Scope, Send
from llmpulse.proxy.sse import SseEvent, SseSplitter
from llmpulse.sdk.calls import LlmCall, safely
from llmpulse.sdk.context import context
from llmpulse.sdk.instruments.anthropic import ENDPOINT as ANTHROPIC_MESSAGES
from llmpulse.sdk.instruments.openai import ENDPOINTS as OPENAI_ENDPOINTS
from llmpulse.sdk.instruments.patching import Endpoint

# The calls that become events, by path; anything else is passed through unrecorded.
RECORDED: dict[str, Endpoint] = {
    "/v1/chat/completions": OPENAI_ENDPOINTS[0],
    "/v1/completions": OPENAI_ENDPOINTS[1],
    "/v1/embeddings": OPENAI_ENDPOINTS[2],
    "/v1/responses": OPENAI_ENDPOINTS[3],
    "/v1/messages": ANTHROPIC_MESSAGES,
}
# Hop-by-hop headers (RFC 9110 §7.6.1) and those aiohttp or Starlette set themselves.
_NOT_FORWARDED = {
    "host", "content-length", "connection", "keep-alive", "proxy-connection", "te",
    "trailer", "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization",
    "accept-encoding", "content-encoding",
}  # fmt: skip
CONTEXT_PREFIX = "x-llmpulse-"


SETTINGS_VARIABLE = "LLMPULSE_PROXY_SETTINGS"  # how `llmpulse proxy` configures its workers


@dataclass(frozen=True)
class ProxySettings:
    upstream: str  # the API's root, e.g. https://api.openai.com (a trailing /v1 is fine)
    provider: str | None = None  # overrides the provider of the API's flavour
    collector: str | None = None  # the LLMPulse server (default: LLMPULSE_ENDPOINT or local)
    api_key: str | None = None  # its project key (default: LLMPULSE_API_KEY)
    capture_content: bool = True
    max_request_mb: int = 64  # bodies are read whole (to record the call) so they are capped

    def to_environment(self) -> str:
        return orjson.dumps(asdict(self)).decode()


def from_environment() -> Proxy:
    """The app of one worker process, configured by `llmpulse proxy` through the
    environment (uvicorn starts workers as fresh processes)."""
    return Proxy(ProxySettings(**orjson.loads(os.environ[SETTINGS_VARIABLE])))


def tune_for_latency() -> None:
    """Every stream waits on this process's one event loop, so pauses cost more than
    throughput: the start-up heap is frozen out of the garbage collector's full passes, and
    the exporter thread hands the GIL back within 1 ms rather than 5 (bench/proxy.py)."""
    gc.freeze()
    sys.setswitchinterval(0.001)


def _context_headers(request: Incoming) -> dict[str, Any]:
    """`llmpulse.context` arguments from X-LLMPulse-User, -Session, -Experiment + -Variant,
    -Prompt-Version, -Tags (comma-separated) and X-LLMPulse-Metadata-<key>."""
    h = request.headers
    found: dict[str, Any] = {
        "user_id": h.get("x-llmpulse-user"),
        "session_id": h.get("x-llmpulse-session"),
        "prompt_version": h.get("x-llmpulse-prompt-version"),
    }
    if h.get("x-llmpulse-experiment") and h.get("x-llmpulse-variant"):
        found["experiment"] = (h["x-llmpulse-experiment"], h["x-llmpulse-variant"])
    if h.get("x-llmpulse-tags"):
        found["tags"] = [t.strip() for t in h["x-llmpulse-tags"].split(",") if t.strip()]
    metadata = {
        key.removeprefix("x-llmpulse-metadata-"): value
        for key, value in h.items()
        if key.startswith("x-llmpulse-metadata-")
    }
    if metadata:
        found["metadata"] = metadata
    return {k: v for k, v in found.items() if v}


def _upstream_url(settings: ProxySettings, request: Incoming) -> str:
    base = settings.upstream.rstrip("/")
    if base.endswith("/v1") and request.path.startswith("/v1/"):
        base = base[:-3]
    return f"{base}{request.target}"


def _forwarded_headers(request: Incoming) -> list[tuple[str, str]]:
    return [
        (k, v)
        for k, v in request.header_list
        if k not in _NOT_FORWARDED and not k.startswith(CONTEXT_PREFIX)
    ]


def _response_headers(upstream: aiohttp.ClientResponse) -> dict[str, str]:
    return {k: v for k, v in upstream.headers.items() if k.lower() not in _NOT_FORWARDED}


def _request_id(upstream: aiohttp.ClientResponse) -> str | None:
    """The provider's request id (OpenAI: x-request-id, Anthropic: request-id)."""
    return upstream.headers.get("x-request-id") or upstream.headers.get("request-id")


def _error_of(status: int, body: bytes) -> dict[str, Any]:
    """status/error_type/http_status of an upstream error answer, from its error body."""
    name = message = ""
    with contextlib.suppress(orjson.JSONDecodeError):
        parsed = orjson.loads(body)
        error = parsed.get("error", parsed) if isinstance(parsed, dict) else {}
        if isinstance(error, dict):
            name = f"{error.get('code') or ''} {error.get('type') or ''}".strip()
            message = str(error.get("message") or "")
    return {
        "status": "error",
        "error_type": error_type_for(status, name, message),
        "http_status": status,
    }


def api_error(path: str, status: int, message: str, kinds: tuple[str, str]) -> JSONResponse:
    """An error in the API's own format, so clients raise their usual error; `kinds` is
    the error type in OpenAI's and in Anthropic's words."""
    if path.startswith("/v1/messages"):
        body: dict[str, Any] = {"type": "error", "error": {"type": kinds[1], "message": message}}
    else:
        body = {"error": {"message": message, "type": kinds[0], "code": status}}
    return JSONResponse(body, status)


def unreachable(path: str, upstream: str, exc: Exception) -> JSONResponse:
    message = f"LLMPulse proxy could not reach the upstream {upstream}: {type(exc).__name__}"
    return api_error(path, 502, message, ("upstream_unreachable", "api_error"))


def too_large(path: str, limit: int) -> JSONResponse:
    message = (
        f"request body: over the LLMPulse proxy's limit of {limit // 2**20} MiB "
        "(llmpulse proxy --max-request-mb)"
    )
    return api_error(path, 413, message, ("invalid_request_error", "request_too_large"))


class Proxy:
    """The upstream side uses aiohttp: at 200 concurrent streams httpx's connection pool
    cost milliseconds of CPU per call (measured in bench/proxy.py)."""

    def __init__(self, settings: ProxySettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    def start_recording(self) -> None:
        """The SDK's exporter, started in the worker process that serves (each has its own)."""
        llmpulse.init(
            endpoint=self.settings.collector,
            api_key=self.settings.api_key,
            capture_content=self.settings.capture_content,
        )
        tune_for_latency()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # made inside the server's event loop
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=600),
                # Idle connections are dropped before the usual server keep-alive (5 s).
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=2.0),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app: no framework between the caller and the relay (see relay.py)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.start_recording()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._session is not None:
                        await self._session.close()
                    # Worker processes end without atexit hooks: what is queued goes now.
                    llmpulse.shutdown(timeout=10.0)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        limit = self.settings.max_request_mb * 2**20
        try:
            request = await read_incoming(scope, receive, limit)
        except BodyTooLarge:
            await too_large(scope["path"], limit)(scope, receive, send)
            return
        if request is None:  # the caller left before sending its whole request
            return
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Incoming) -> Response | Relay:
        endpoint = RECORDED.get(request.path) if request.method == "POST" else None
        payload: dict[str, Any] | None = None
        if endpoint is not None:
            with contextlib.suppress(orjson.JSONDecodeError):
                parsed = orjson.loads(request.body)
                payload = parsed if isinstance(parsed, dict) else None
        if endpoint is None or payload is None:
            return await self._pass_through(request)
        return await self._recorded(request, endpoint, payload)

    async def _send(self, request: Incoming, body: bytes) -> aiohttp.ClientResponse:
        url = _upstream_url(self.settings, request)
        headers = [*_forwarded_headers(request), ("Accept-Encoding", "identity")]
        try:
            return await self.session.request(request.method, url, headers=headers, data=body)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            # A kept-alive connection the upstream had just closed: the request never got
            # an answer, so it is sent once more on a new connection (as Go's client does).
            return await self.session.request(request.method, url, headers=headers, data=body)

    async def _pass_through(self, request: Incoming) -> Response | Relay:
        try:
            upstream = await self._send(request, request.body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._unreachable(request, None, exc)
        return Relay(upstream, _response_headers(upstream))

    async def _recorded(
        self, request: Incoming, endpoint: Endpoint, payload: dict[str, Any]
    ) -> Response | Relay:
        provider = self.settings.provider or endpoint.provider
        with context(**_context_headers(request)):
            call = safely(LlmCall.start, provider, endpoint.operation, payload, endpoint.prompt)
        body, injected = request.body, False
        streaming = payload.get("stream") is True
        if call is not None and streaming and endpoint.ask_usage is not None:
            asked, injected = endpoint.ask_usage(payload)
            if injected:
                body = orjson.dumps(asked)
        try:
            upstream = await self._send(request, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._unreachable(request, call, exc)
        headers = _response_headers(upstream)
        if upstream.status >= 400 or not streaming:
            try:
                content = await upstream.read()
            except aiohttp.ClientError as exc:
                return self._unreachable(request, call, exc)
            finally:
                upstream.release()
            if call is not None:
                safely(self._finish_whole, call, endpoint, upstream, content)
            return Response(content, upstream.status, headers=headers)
        if call is None:
            return Relay(upstream, headers)
        return self._relay(upstream, headers, call, endpoint, injected)

    def _unreachable(self, request: Incoming, call: LlmCall | None, exc: Exception) -> JSONResponse:
        """The caller gets 502; the call, if recorded, ends as a network error."""
        if call is not None:
            safely(call.finish, status="error", error_type="network", http_status=502)
        return unreachable(request.path, self.settings.upstream, exc)

    def _finish_whole(
        self, call: LlmCall, endpoint: Endpoint, upstream: aiohttp.ClientResponse, content: bytes
    ) -> None:
        request_id = _request_id(upstream)
        if upstream.status >= 400:
            call.finish(**_error_of(upstream.status, content))
            return
        fields = endpoint.response(orjson.loads(content))
        call.finish(**{**fields, "http_status": upstream.status,
                       "request_id": request_id or fields.get("request_id")})  # fmt: skip

    def _relay(
        self,
        upstream: aiohttp.ClientResponse,
        headers: dict[str, str],
        call: LlmCall,
        endpoint: Endpoint,
        injected: bool,
    ) -> Relay:
        """A relay that reads each event into the call and drops the usage chunk we asked
        for; the call ends however the stream ends."""
        read_chunk = endpoint.chunk
        assert read_chunk is not None
        splitter = SseSplitter()
        call.fields["http_status"] = upstream.status
        request_id = _request_id(upstream)
        if request_id:
            call.fields["request_id"] = request_id

        def ours(event: SseEvent) -> bool:
            """Reads the event into the call; True for the usage chunk we asked for."""
            if not event.data or event.data == b"[DONE]":
                return False
            try:
                data = orjson.loads(event.data)
            except orjson.JSONDecodeError:  # not JSON: nothing to read, passed on as is
                return False
            return bool(read_chunk(call, data, injected))

        def rewrite(chunk: bytes) -> bytes:
            return b"".join(e.raw for e in splitter.feed(chunk) if not safely(ours, e))

        def on_end(outcome: str) -> None:
            if outcome == COMPLETED:
                safely(call.finish)
            elif outcome == DISCONNECTED:
                safely(call.cancel)
            else:  # the upstream broke off: the caller saw the stream end early
                safely(call.finish, status="error", error_type="network")

        return Relay(upstream, headers, rewrite, splitter.rest, on_end)

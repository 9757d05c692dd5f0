"""The SDK around the real `openai` client, against the fake provider; events checked as a
real `llmpulse serve` stored them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest
from genai_prices import Usage, calc_price

import llmpulse
from conftest import Server
from fake_llm import FIRST_CHUNK_DELAY_S, WORDS, FakeLLM
from sdk_helpers import stored_events


def client(fake: FakeLLM, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{fake.url}/v1", api_key="sk-test", max_retries=0, **kwargs)


def aclient(fake: FakeLLM, **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{fake.url}/v1", api_key="sk-test", max_retries=0, **kwargs)


MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is six times seven?"},
]


def test_chat_completion_fields_and_context(server: Server, sdk: str, fake: FakeLLM) -> None:
    fake.cached_tokens = 2
    try:
        started = time.perf_counter()
        outer = llmpulse.context(user_id="u-1", session_id="s-1", experiment=("tone", "B"),
                                 prompt_version="v3", tags=["beta"], metadata={"team": "search"})  # fmt: skip
        with outer, llmpulse.context(tags=["inner"], metadata={"page": "home"}, feature="search"):
            response = client(fake).chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50
            )
        elapsed_ms = (time.perf_counter() - started) * 1000
    finally:
        fake.cached_tokens = 0
    answer = fake.calls[-1]
    assert response.choices[0].message.content == answer.text  # the app got the real answer

    [event] = stored_events(server, sdk, 1)
    usage = response.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    expected_cost = calc_price(
        Usage(
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            cache_read_tokens=usage.prompt_tokens_details.cached_tokens,
        ),
        model_ref="gpt-4o-mini",
        provider_id="openai",
    ).total_price
    assert event["model_id"] == "gpt-4o-mini"
    assert event["model_version"] == response.model == "gpt-4o-mini-2025-01-01"
    assert event["provider"] == "openai"
    assert event["operation"] == "chat"
    assert event["status"] == "ok" and event["error_type"] is None
    assert event["tokens_in"] == usage.prompt_tokens == answer.tokens_in
    assert event["tokens_out"] == usage.completion_tokens == len(WORDS)
    assert event["tokens_cached"] == 2
    assert event["cost_usd"] == pytest.approx(float(expected_cost), rel=1e-6)
    assert event["finish_reason"] == "stop"
    assert event["temperature"] == pytest.approx(0.2)
    assert event["max_tokens"] == 50
    assert event["stream"] is False
    assert event["ttft_ms"] is None
    assert 0 < event["latency_ms"] <= elapsed_ms
    assert event["request_id"] == "req_fake_123"
    assert event["prompt"] == "system: You are terse.\nuser: What is six times seven?"
    assert event["completion"] == answer.text
    assert event["environment"] == "test"
    assert (event["user_id"], event["session_id"]) == ("u-1", "s-1")
    assert (event["experiment_name"], event["experiment_variant"]) == ("tone", "B")
    assert event["prompt_version"] == "v3" and event["feature"] == "search"
    assert event["tags"] == ["beta", "inner"]
    assert event["metadata"] == {"team": "search", "page": "home"}
    assert len(event["trace_id"]) == 32 and len(event["span_id"]) == 16


def test_stream_passes_chunks_unchanged_and_records_usage(
    server: Server, sdk: str, fake: FakeLLM
) -> None:
    stream = client(fake).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.Stream)  # still the client's own type
    chunks = list(stream)
    answer = fake.calls[-1]
    # The SDK asked for usage on the wire, and hid the extra chunk from the caller.
    assert answer.request["stream_options"] == {"include_usage": True}
    assert answer.usage_chunk_sent
    assert len(chunks) == answer.chunks_sent - 1
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == answer.text

    [event] = stored_events(server, sdk, 1)
    assert event["stream"] is True
    assert event["tokens_in"] == answer.tokens_in
    assert event["tokens_out"] == answer.tokens_out
    assert event["completion"] == answer.text
    assert event["finish_reason"] == "stop"
    assert FIRST_CHUNK_DELAY_S * 1000 <= event["ttft_ms"] < event["latency_ms"]


def test_stream_usage_the_caller_asked_for_is_kept(server: Server, sdk: str, fake: FakeLLM) -> None:
    chunks = list(
        client(fake).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    [event] = stored_events(server, sdk, 1)
    assert event["tokens_out"] == chunks[-1].usage.completion_tokens


def test_async_calls_streaming_and_not(server: Server, sdk: str, fake: FakeLLM) -> None:
    async def main() -> tuple[str, str]:
        async with aclient(fake) as api:
            plain = await api.chat.completions.create(model="gpt-4o", messages=MESSAGES)
            stream = await api.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True
            )
            assert isinstance(stream, openai.AsyncStream)
            text = "".join([c.choices[0].delta.content or "" async for c in stream])
            return plain.choices[0].message.content or "", text

    plain, streamed = asyncio.run(main())
    assert plain == streamed == "".join(WORDS)
    events = stored_events(server, sdk, 2)
    assert [e["stream"] for e in events] == [False, True]
    assert all(e["tokens_out"] == len(WORDS) and e["status"] == "ok" for e in events)
    assert events[1]["ttft_ms"] >= FIRST_CHUNK_DELAY_S * 1000


def test_stream_stopped_early_is_cancelled(server: Server, sdk: str, fake: FakeLLM) -> None:
    with client(fake).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    ) as stream:
        for n, _ in enumerate(stream):
            if n == 2:
                break
    # Dropped without close: still recorded, when the stream is collected.
    for n, _ in enumerate(
        client(fake).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    ):
        if n == 2:
            break
    events = stored_events(server, sdk, 2)
    assert len(events) == 2
    for event in events:
        assert (event["status"], event["error_type"]) == ("error", "cancelled")
        assert event["ttft_ms"] is not None


@pytest.mark.parametrize(
    ("model", "exception", "error_type", "http_status"),
    [
        ("fake-429", openai.RateLimitError, "rate_limit", 429),
        ("fake-500", openai.InternalServerError, "server_error", 500),
        ("fake-401", openai.AuthenticationError, "auth", 401),
        ("fake-context", openai.BadRequestError, "context_length", 400),
        ("fake-slow", openai.APITimeoutError, "timeout", None),
    ],
)
def test_errors_are_typed(server: Server, sdk: str, fake: FakeLLM, model: str,
                          exception: type[Exception], error_type: str, http_status: int | None) -> None:  # fmt: skip
    with pytest.raises(exception):  # the app sees the client's own exception
        client(fake, timeout=0.5).chat.completions.create(model=model, messages=MESSAGES)
    [event] = stored_events(server, sdk, 1)
    assert (event["status"], event["error_type"], event["http_status"]) == (
        "error",
        error_type,
        http_status,
    )
    assert event["model_id"] == model


def test_completions_and_embeddings(server: Server, sdk: str, fake: FakeLLM) -> None:
    api = client(fake)
    completion = api.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    embedding = api.embeddings.create(model="text-embedding-3-small", input="hello world")
    events = stored_events(server, sdk, 2)
    by_op = {e["operation"]: e for e in events}
    assert by_op["completion"]["tokens_in"] == completion.usage.prompt_tokens  # type: ignore[union-attr]
    assert by_op["completion"]["completion"] == completion.choices[0].text
    assert by_op["completion"]["finish_reason"] == "length"
    assert by_op["embedding"]["tokens_in"] == embedding.usage.prompt_tokens == 2
    assert by_op["embedding"]["prompt"] == "hello world"
    assert by_op["embedding"]["model_id"] == "text-embedding-3-small"


def test_uninstrument_restores_the_client(server: Server, sdk: str, fake: FakeLLM) -> None:
    from openai.resources.chat.completions.completions import Completions

    instrumented = Completions.create
    llmpulse.uninstrument()
    assert Completions.create is not instrumented
    assert not getattr(Completions.create, "_llmpulse", False)
    client(fake).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    llmpulse.instrument()
    assert getattr(Completions.create, "_llmpulse", False)
    client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    events = stored_events(server, sdk, 1)
    time.sleep(1)
    assert [e["model_id"] for e in stored_events(server, sdk, 1)] == ["gpt-4o-mini"]
    assert len(events) == 1


def test_parse_and_stream_helpers(server: Server, sdk: str, fake: FakeLLM) -> None:
    """chat.completions.parse() posts on its own; .stream() goes through create()."""
    parsed = client(fake).chat.completions.parse(model="gpt-4o", messages=MESSAGES)
    with client(fake).chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        streamed = "".join(e.delta for e in stream if e.type == "content.delta")

    async def main() -> tuple[str, str]:
        async with aclient(fake) as api:
            parsed = await api.chat.completions.parse(model="gpt-4.1", messages=MESSAGES)
            async with api.chat.completions.stream(model="gpt-4.1-mini", messages=MESSAGES) as s:
                text = "".join([e.delta async for e in s if e.type == "content.delta"])
            return parsed.choices[0].message.content or "", text

    async_parsed, async_streamed = asyncio.run(main())
    text = "".join(WORDS)
    assert parsed.choices[0].message.content == streamed == async_parsed == async_streamed == text
    events = stored_events(server, sdk, 4)
    assert sorted((e["model_id"], e["stream"]) for e in events) == [
        ("gpt-4.1", False), ("gpt-4.1-mini", True), ("gpt-4o", False), ("gpt-4o-mini", True),
    ]  # fmt: skip
    assert all(e["completion"] == text and e["tokens_out"] == len(WORDS) for e in events)
    assert all(e["status"] == "ok" and e["tokens_in"] > 0 for e in events)


def test_responses_api_create_stream_and_parse(server: Server, sdk: str, fake: FakeLLM) -> None:
    """responses.create (whole and streamed), .stream() (through create) and .parse() (its
    own post), sync and async."""
    api = client(fake)
    whole = api.responses.create(model="gpt-4.1", input="What is six times seven?",
                                 instructions="Be terse.")  # fmt: skip
    events_seen = list(api.responses.create(model="gpt-4.1-mini", input="Hi", stream=True))
    with api.responses.stream(model="gpt-4.1-nano", input="Hi") as stream:
        streamed = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    parsed = api.responses.parse(model="gpt-4o", input="Hi")

    async def main() -> str:
        async with aclient(fake) as api:
            response = await api.responses.create(model="gpt-4o-mini", input="Hi")
            return response.output_text

    async_text = asyncio.run(main())
    text = "".join(WORDS)
    assert whole.output_text == streamed == final.output_text == parsed.output_text == text
    assert async_text == text
    assert [e.type for e in events_seen].count("response.output_text.delta") == len(WORDS)

    events = {e["model_id"]: e for e in stored_events(server, sdk, 5)}
    expected_stream = {"gpt-4.1": False, "gpt-4.1-mini": True, "gpt-4.1-nano": True,
                       "gpt-4o": False, "gpt-4o-mini": False}  # fmt: skip
    assert {m: e["stream"] for m, e in events.items()} == expected_stream
    assert all(e["completion"] == text and e["tokens_out"] == len(WORDS) for e in events.values())
    assert all(e["finish_reason"] == "completed" and e["status"] == "ok" for e in events.values())
    assert events["gpt-4.1"]["prompt"] == "system: Be terse.\nuser: What is six times seven?"
    assert events["gpt-4.1"]["tokens_in"] == whole.usage.input_tokens  # type: ignore[union-attr]
    assert events["gpt-4.1"]["request_id"] == "resp_fake1"
    for model in ("gpt-4.1-mini", "gpt-4.1-nano"):
        assert FIRST_CHUNK_DELAY_S * 1000 <= events[model]["ttft_ms"] < events[model]["latency_ms"]

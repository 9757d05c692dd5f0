"""The SDK around the real `anthropic` client, against the fake provider."""

from __future__ import annotations

import asyncio

import anthropic
import pytest

from conftest import Server
from fake_llm import FIRST_CHUNK_DELAY_S, WORDS, FakeLLM
from sdk_helpers import stored_events

MESSAGES = [{"role": "user", "content": "What is six times seven?"}]


def client(fake: FakeLLM) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0)


def test_message_with_cache_reads(server: Server, sdk: str, fake: FakeLLM) -> None:
    fake.cached_tokens = 3
    try:
        message = client(fake).messages.create(
            model="claude-sonnet-4-6", system="Be terse.", messages=MESSAGES, max_tokens=100
        )
    finally:
        fake.cached_tokens = 0
    answer = fake.calls[-1]
    [event] = stored_events(server, sdk, 1)
    usage = message.usage
    # v1's tokens_in counts cache reads; Anthropic reports them apart.
    assert (
        event["tokens_in"]
        == usage.input_tokens + (usage.cache_read_input_tokens or 0)
        == answer.tokens_in
    )
    assert event["tokens_cached"] == usage.cache_read_input_tokens == 3
    assert event["tokens_out"] == usage.output_tokens == len(WORDS)
    assert event["provider"] == "anthropic"
    assert event["model_id"] == "claude-sonnet-4-6"
    assert event["finish_reason"] == "end_turn"
    assert event["max_tokens"] == 100
    assert event["prompt"] == "system: Be terse.\nuser: What is six times seven?"
    assert event["completion"] == message.content[0].text == answer.text  # type: ignore[union-attr]
    assert event["request_id"] == "msg_fake1"


def test_stream_sync_and_async(server: Server, sdk: str, fake: FakeLLM) -> None:
    stream = client(fake).messages.create(
        model="claude-sonnet-4-6", messages=MESSAGES, max_tokens=100, stream=True
    )
    assert isinstance(stream, anthropic.Stream)
    kinds = [event.type for event in stream]
    assert kinds.count("content_block_delta") == len(WORDS)  # every event passed through

    async def main() -> str:
        api = anthropic.AsyncAnthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0)
        stream = await api.messages.create(
            model="claude-haiku-4-5", messages=MESSAGES, max_tokens=10, stream=True
        )
        return "".join([e.delta.text async for e in stream if e.type == "content_block_delta"])  # type: ignore[union-attr]

    assert asyncio.run(main()) == "".join(WORDS)
    events = stored_events(server, sdk, 2)
    assert [e["model_id"] for e in events] == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    for event in events:
        assert event["stream"] is True
        assert event["tokens_out"] == len(WORDS)
        assert event["tokens_in"] == fake.calls[-1].tokens_in
        assert event["finish_reason"] == "end_turn"
        assert event["completion"] == "".join(WORDS)
        assert FIRST_CHUNK_DELAY_S * 1000 <= event["ttft_ms"] < event["latency_ms"]


@pytest.mark.parametrize(
    ("model", "exception", "error_type"),
    [
        ("fake-429", anthropic.RateLimitError, "rate_limit"),
        ("fake-500", anthropic.InternalServerError, "server_error"),
        ("fake-context", anthropic.BadRequestError, "context_length"),
    ],
)
def test_errors(
    server: Server, sdk: str, fake: FakeLLM, model: str, exception: type[Exception], error_type: str
) -> None:
    with pytest.raises(exception):
        client(fake).messages.create(model=model, messages=MESSAGES, max_tokens=10)
    [event] = stored_events(server, sdk, 1)
    assert (event["status"], event["error_type"]) == ("error", error_type)


def test_stream_and_parse_helpers(server: Server, sdk: str, fake: FakeLLM) -> None:
    """messages.stream() and messages.parse() post on their own, not through create()."""
    api = client(fake)
    with api.messages.stream(model="claude-sonnet-4-6", messages=MESSAGES, max_tokens=100) as s:
        streamed = "".join(s.text_stream)
        final = s.get_final_message()
    parsed = api.messages.parse(model="claude-opus-4-1", messages=MESSAGES, max_tokens=100)

    async def main() -> str:
        api = anthropic.AsyncAnthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0)
        async with api.messages.stream(
            model="claude-haiku-4-5", messages=MESSAGES, max_tokens=10
        ) as stream:
            return "".join([text async for text in stream.text_stream])

    async_streamed = asyncio.run(main())
    text = "".join(WORDS)
    assert streamed == async_streamed == parsed.content[0].text == text  # type: ignore[union-attr]
    events = stored_events(server, sdk, 3)
    assert sorted((e["model_id"], e["stream"]) for e in events) == [
        ("claude-haiku-4-5", True), ("claude-opus-4-1", False), ("claude-sonnet-4-6", True),
    ]  # fmt: skip
    assert all(e["completion"] == text and e["tokens_out"] == len(WORDS) for e in events)
    assert all(e["status"] == "ok" for e in events)
    assert final.usage.output_tokens == len(WORDS)
    for event in events:
        if event["stream"]:
            assert FIRST_CHUNK_DELAY_S * 1000 <= event["ttft_ms"] < event["latency_ms"]


def test_stream_helper_error_is_recorded(server: Server, sdk: str, fake: FakeLLM) -> None:
    with (
        pytest.raises(anthropic.RateLimitError),
        client(fake).messages.stream(model="fake-429", messages=MESSAGES, max_tokens=10),
    ):
        pass
    [event] = stored_events(server, sdk, 1)
    assert (event["status"], event["error_type"], event["http_status"]) == (
        "error", "rate_limit", 429,
    )  # fmt: skip
    assert event["stream"] is True

"""The LangChain CallbackHandler: langchain-core's fake chat models and langchain-openai
against the fake provider; events and spans as the real server stored them."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

import llmpulse
from conftest import Server
from fake_llm import FIRST_CHUNK_DELAY_S, WORDS, FakeLLM
from llmpulse.integrations.langchain import CallbackHandler
from llmpulse.sdk.context import current_span
from sdk_helpers import get_trace, stored_events

PROMPT = ChatPromptTemplate.from_messages([("system", "Be terse."), ("human", "{question}")])


@pytest.fixture
def collector(server: Server, project_key: str) -> Any:
    llmpulse.init(endpoint=server.url, api_key=project_key)
    yield project_key
    llmpulse.shutdown(timeout=10)


def test_fake_chat_model_chain_and_tool(server: Server, collector: str) -> None:
    reply = AIMessage(
        content="forty two",
        usage_metadata={
            "input_tokens": 11,
            "output_tokens": 2,
            "total_tokens": 13,
            "input_token_details": {"cache_read": 4},
        },
    )
    model = GenericFakeChatModel(messages=iter([reply, AIMessage(content="streamed answer here")]))

    @tool
    def multiply(a: int, b: int) -> int:
        """Multiply two numbers."""
        return a * b

    handler = CallbackHandler()
    agent_traces: list[str] = []

    @llmpulse.observe(name="agent", kind="agent")
    def agent() -> int:
        span = current_span()
        assert span is not None
        agent_traces.append(span.trace_id)
        return int(multiply.invoke({"a": 6, "b": 7}, config={"callbacks": [handler]}))

    chain = PROMPT | model | StrOutputParser()
    with llmpulse.context(user_id="lc-user"):
        assert chain.invoke({"question": "6*7?"}, config={"callbacks": [handler]}) == "forty two"
        assert agent() == 42
        streamed = "".join(chain.stream({"question": "again"}, config={"callbacks": [handler]}))
    assert streamed == "streamed answer here"

    events = stored_events(server, collector, 2)
    first, second = events
    assert first["model_id"] == second["model_id"] != "unknown"
    assert (first["tokens_in"], first["tokens_out"], first["tokens_cached"]) == (11, 2, 4)
    assert first["prompt"] == "system: Be terse.\nuser: 6*7?"
    assert first["completion"] == "forty two"
    assert first["user_id"] == "lc-user"
    assert first["stream"] is False and first["ttft_ms"] is None
    assert second["stream"] is True
    assert 0 <= second["ttft_ms"] <= second["latency_ms"]
    assert second["completion"] == "streamed answer here"

    trace = get_trace(server, collector, first["trace_id"])
    chains = [s for s in trace["spans"] if s["type"] == "span"]
    roots = [s for s in chains if s["parent_span_id"] == ""]
    assert len(roots) == 1, [(s["name"], s["span_id"], s["parent_span_id"]) for s in trace["spans"]]
    root = roots[0]
    assert root["kind"] == "chain" and root["name"] == "RunnableSequence"
    assert first["parent_span_id"] == root["span_id"]
    assert {s["name"] for s in chains} >= {
        "RunnableSequence",
        "ChatPromptTemplate",
        "StrOutputParser",
    }
    assert second["trace_id"] != first["trace_id"]  # each run of the chain is its own trace

    # A LangChain run inside an @observe function joins that function's trace.
    spans = {s["name"]: s for s in get_trace(server, collector, agent_traces[0])["spans"]}
    agent_span, tool_span = spans.pop("agent"), spans.pop("multiply")
    assert not spans and tool_span["kind"] == "tool"
    assert tool_span["parent_span_id"] == agent_span["span_id"]
    assert json.loads(tool_span["input"]) == {"a": 6, "b": 7}
    assert json.loads(tool_span["output"]) == 42


def test_langchain_openai_against_the_fake(server: Server, collector: str, fake: FakeLLM) -> None:
    model = ChatOpenAI(model="gpt-4o-mini", base_url=f"{fake.url}/v1", api_key="sk-test", max_retries=0,
                       temperature=0.1, max_tokens=64, stream_usage=True)  # fmt: skip
    handler = CallbackHandler()
    chain = PROMPT | model | StrOutputParser()
    assert chain.invoke({"question": "6*7?"}, config={"callbacks": [handler]}) == "".join(WORDS)
    plain = fake.calls[-1]
    assert "".join(
        chain.stream({"question": "again?"}, config={"callbacks": [handler]})
    ) == "".join(WORDS)
    streamed = fake.calls[-1]
    failing = ChatOpenAI(
        model="fake-429", base_url=f"{fake.url}/v1", api_key="sk-test", max_retries=0
    )
    with pytest.raises(openai.RateLimitError):
        failing.invoke("hi", config={"callbacks": [handler]})

    events = stored_events(server, collector, 3)
    ok = [e for e in events if e["status"] == "ok"]
    assert [e["stream"] for e in ok] == [False, True]
    for event, answer in zip(ok, (plain, streamed), strict=True):
        assert event["model_id"] == "gpt-4o-mini"
        assert event["provider"] == "openai"
        assert event["tokens_in"] == answer.tokens_in
        assert event["tokens_out"] == answer.tokens_out
        assert event["completion"] == answer.text
        assert event["temperature"] == pytest.approx(0.1)
        assert event["max_tokens"] == 64
        assert event["cost_usd"] > 0
    assert ok[0]["finish_reason"] == "stop"
    assert ok[1]["ttft_ms"] >= FIRST_CHUNK_DELAY_S * 1000
    [failed] = [e for e in events if e["status"] == "error"]
    assert (failed["error_type"], failed["model_id"]) == ("rate_limit", "fake-429")

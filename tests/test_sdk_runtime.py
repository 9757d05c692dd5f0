"""The SDK's own machinery: traces and context, redaction, sampling, and the exporter when
the collector is down, slow to accept (429) or the process forks."""

from __future__ import annotations

import asyncio
import contextvars
import gzip
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import llmpulse
from conftest import ADMIN_KEY, Server, free_port
from fake_llm import FakeLLM
from llmpulse.sdk.context import current_span
from sdk_helpers import get_trace, stored_events

MESSAGES = [{"role": "user", "content": "hi"}]


def chat(fake: FakeLLM, model: str = "gpt-4o-mini", content: str = "hi") -> str:
    api = openai.OpenAI(base_url=f"{fake.url}/v1", api_key="sk-test", max_retries=0)
    response = api.chat.completions.create(
        model=model, messages=[{"role": "user", "content": content}]
    )
    return response.choices[0].message.content or ""


def test_observe_builds_one_trace(server: Server, sdk: str, fake: FakeLLM) -> None:
    @llmpulse.observe(name="search", kind="tool")
    def search(query: str) -> list[str]:
        chat(fake, content=f"search {query}")
        return ["doc1", "doc2"]

    @llmpulse.observe(kind="retriever")
    def stream_docs(n: int) -> Any:
        for i in range(n):
            yield f"d{i}"

    @llmpulse.observe(kind="retriever")
    async def astream_docs(n: int) -> Any:
        for i in range(n):
            await asyncio.sleep(0)
            yield f"a{i}"

    @llmpulse.observe(name="agent", kind="agent")
    async def agent(question: str) -> str:
        docs = await asyncio.to_thread(search, question)  # to_thread copies the context
        docs += list(stream_docs(2))
        docs += [d async for d in astream_docs(1)]
        return chat(fake, content=f"{question} {docs}")

    failing_traces: list[str] = []

    @llmpulse.observe
    def failing() -> None:
        span = current_span()
        assert span is not None
        failing_traces.append(span.trace_id)
        raise ValueError("no luck")

    with llmpulse.context(user_id="u-7", session_id="s-7"):
        asyncio.run(agent("why?"))
    with pytest.raises(ValueError):
        failing()

    llm = stored_events(server, sdk, 2)
    assert len(llm) == 2
    trace_id = llm[0]["trace_id"]
    assert llm[1]["trace_id"] == trace_id
    deadline = time.monotonic() + 20
    while True:
        trace = get_trace(server, sdk, trace_id)
        if len(trace["spans"]) >= 6 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    spans = {s["name"]: s for s in trace["spans"] if s["type"] == "span"}
    assert set(spans) == {
        "agent",
        "search",
        "test_observe_builds_one_trace.<locals>.stream_docs",
        "test_observe_builds_one_trace.<locals>.astream_docs",
    }
    assert (
        spans["test_observe_builds_one_trace.<locals>.astream_docs"]["parent_span_id"]
        == spans["agent"]["span_id"]
    )
    agent_span, search_span = spans["agent"], spans["search"]
    docs_span = spans["test_observe_builds_one_trace.<locals>.stream_docs"]
    assert agent_span["parent_span_id"] == ""
    assert search_span["parent_span_id"] == agent_span["span_id"]
    assert docs_span["parent_span_id"] == agent_span["span_id"]
    assert (agent_span["kind"], search_span["kind"], docs_span["kind"]) == (
        "agent",
        "tool",
        "retriever",
    )
    assert json.loads(search_span["input"]) == {"query": "why?"}
    assert json.loads(search_span["output"]) == ["doc1", "doc2"]
    assert agent_span["user_id"] == "u-7" and agent_span["session_id"] == "s-7"
    by_prompt = {e["prompt"]: e for e in llm}
    assert by_prompt["search why?"]["parent_span_id"] == search_span["span_id"]
    assert (
        by_prompt["why? ['doc1', 'doc2', 'd0', 'd1', 'a0']"]["parent_span_id"]
        == agent_span["span_id"]
    )
    assert all(e["user_id"] == "u-7" for e in llm)
    assert trace["llm_calls"] == 2
    assert agent_span["latency_ms"] >= max(e["latency_ms"] for e in llm)

    # The failing span has its own trace, with the error.
    [failed] = get_trace(server, sdk, failing_traces[0])["spans"]
    assert failed["name"] == "test_observe_builds_one_trace.<locals>.failing"
    assert (failed["status"], failed["error_type"]) == ("error", "other")
    assert failed["error_message"] == "ValueError: no luck"


def test_context_is_isolated_between_tasks_and_threads(
    server: Server, sdk: str, fake: FakeLLM
) -> None:
    async def one(user: str) -> None:
        with llmpulse.context(user_id=user):
            await asyncio.sleep(0.01)
            await asyncio.to_thread(chat, fake, "gpt-4o-mini", user)

    async def main() -> None:
        await asyncio.gather(*(one(f"user-{i}") for i in range(4)))

    asyncio.run(main())
    with llmpulse.context(session_id="thread-session"):
        ctx = contextvars.copy_context()
    thread = threading.Thread(target=ctx.run, args=(chat, fake, "gpt-4o-mini", "from-thread"))
    thread.start()
    thread.join()
    plain = threading.Thread(target=chat, args=(fake, "gpt-4o-mini", "plain-thread"))
    plain.start()
    plain.join()

    events = {e["prompt"]: e for e in stored_events(server, sdk, 6)}
    for i in range(4):
        assert events[f"user-{i}"]["user_id"] == f"user-{i}"
    assert events["from-thread"]["session_id"] == "thread-session"
    assert events["plain-thread"]["session_id"] == ""
    assert len({e["trace_id"] for e in events.values()}) == 6  # no shared parent: one trace each


def test_redaction_and_capture_off(server: Server, project_key: str, fake: FakeLLM) -> None:
    llmpulse.init(endpoint=server.url, api_key=project_key, redact=[r"ORDER-\d+"])
    llmpulse.instrument()
    try:
        secret = ("mail jane.doe@example.com or call +1 415-555-0132, card 4111 1111 1111 1111, "
                  "key sk-proj-abcdefghijklmnopqrstuv, Authorization: Bearer abc.def.ghi, ORDER-991, "
                  "invoice 1234 5678 9012 3456")  # fmt: skip
        chat(fake, content=secret)
        [event] = stored_events(server, project_key, 1)
        assert event["prompt"] == (
            "mail [REDACTED:email] or call [REDACTED:phone], card [REDACTED:card_number], "
            "key [REDACTED:api_key], Authorization: [REDACTED:bearer_token], [REDACTED:custom], "
            "invoice 1234 5678 9012 3456"  # fails the Luhn check: not a card number
        )
        llmpulse.init(endpoint=server.url, api_key=project_key, capture_content=False)
        chat(fake, model="gpt-4o", content=secret)
        events = stored_events(server, project_key, 2)
        quiet = next(e for e in events if e["model_id"] == "gpt-4o")
        assert quiet["prompt"] == "" and quiet["completion"] == ""
        assert quiet["tokens_out"] > 0
    finally:
        llmpulse.uninstrument()
        llmpulse.shutdown()


def test_prompt_prefix_hash_marks_calls_sharing_a_long_leading_prompt(
    server: Server, project_key: str, fake: FakeLLM
) -> None:
    llmpulse.init(endpoint=server.url, api_key=project_key, capture_content=False)
    llmpulse.instrument()
    manual = "Answer from the product manual, section by section. " * 90  # ~4,700 characters
    translate = "Translate into French, keeping the formatting exactly. " * 90
    api = openai.OpenAI(base_url=f"{fake.url}/v1", api_key="sk-test", max_retries=0)
    try:
        for system, question in ((manual, "q1"), (manual, "q2"), (translate, "q1"), ("hi", "q")):
            api.chat.completions.create(model="gpt-4o-mini", messages=[
                {"role": "system", "content": system}, {"role": "user", "content": question}])  # fmt: skip
        events = stored_events(server, project_key, 4)
    finally:
        llmpulse.uninstrument()
        llmpulse.shutdown()
    hashes = [e["prompt_prefix_hash"] for e in events]
    assert hashes[0] == hashes[1] != "" and hashes[2] not in ("", hashes[0])
    assert hashes[3] == ""  # too short for a provider's cache
    assert all(e["prompt"] == "" for e in events)  # the hash, never the text


def test_sampling_is_per_trace(server: Server, project_key: str, fake: FakeLLM) -> None:
    llmpulse.init(endpoint=server.url, api_key=project_key, sample_rate=0.0)
    llmpulse.instrument()
    try:
        for _ in range(5):
            chat(fake)
        assert llmpulse.flush(10)
        assert llmpulse.stats()["sent"] == 0
    finally:
        llmpulse.uninstrument()
        llmpulse.shutdown()
    with pytest.raises(ValueError, match="sample_rate"):
        llmpulse.init(sample_rate=1.5)


def test_collector_down_then_back(tmp_path: Path, fake: FakeLLM) -> None:
    """The app is unaffected while the collector is down; once it is back, what the bounded
    queue kept is delivered once: the newest, even when the exporter had an older batch
    out for delivery (which made it keep the oldest and drop the newest before)."""
    collector = Server(tmp_path / "data")
    llmpulse.init(endpoint=collector.url, api_key=ADMIN_KEY, max_queue=40)
    llmpulse.instrument()
    try:
        for i in range(60):
            assert chat(fake, content=f"call {i}")  # the call works
            if i == 29:  # the exporter takes calls 0-29 out for delivery, which fails
                assert not llmpulse.flush(timeout=0.3)
        collector.start()
        assert llmpulse.flush(timeout=60), llmpulse.stats()
        stats = llmpulse.stats()
        assert (stats["dropped"], stats["sent"], stats["pending"]) == (20, 40, 0)
        events = stored_events(collector, ADMIN_KEY, 40)
        prompts = sorted(int(e["prompt"].split()[1]) for e in events)
        assert prompts == list(range(20, 60))  # the oldest were dropped, not the newest
    finally:
        llmpulse.uninstrument()
        llmpulse.shutdown()
        collector.stop()


class RefusingCollector:
    """A collector that answers 429 with Retry-After to the first request, then 202."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[tuple[float, int, list[dict[str, Any]]]] = []

        async def events(request: Request) -> JSONResponse:
            body = json.loads(
                b"[" + gzip.decompress(await request.body()).strip().replace(b"\n", b",") + b"]"
            )
            self.requests.append((time.monotonic(), 429 if not self.requests else 202, body))
            if len(self.requests) == 1:
                return JSONResponse(
                    {"error": "slow down", "detail": []}, 429, headers={"Retry-After": "1"}
                )
            return JSONResponse({"accepted": len(body), "rejected": 0, "errors": []}, 202)

        app = Starlette(routes=[Route("/v1/events", events, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, port=self.port, log_level="warning"))
        threading.Thread(target=self.server.run, daemon=True).start()
        while not self.server.started:
            time.sleep(0.02)


def test_retry_after_is_honoured_and_ids_kept(fake: FakeLLM) -> None:
    collector = RefusingCollector()
    llmpulse.init(endpoint=f"http://127.0.0.1:{collector.port}", api_key="k")
    llmpulse.instrument()
    try:
        chat(fake)
        chat(fake)
        assert llmpulse.flush(timeout=20)
    finally:
        llmpulse.uninstrument()
        llmpulse.shutdown()
        collector.server.should_exit = True
    (t0, s0, first), (t1, s1, second) = collector.requests[:2]
    assert (s0, s1) == (429, 202)
    assert t1 - t0 >= 1.0  # waited as told
    assert [e["event_id"] for e in first] == [e["event_id"] for e in second]
    assert len(first) == 2


def test_forked_child_sends_its_own_events(server: Server, project_key: str, fake: FakeLLM) -> None:
    llmpulse.init(endpoint=server.url, api_key=project_key)
    llmpulse.instrument()
    try:
        chat(fake, content="parent before fork")
        pid = os.fork()
        if pid == 0:  # the child, like a gunicorn worker
            code = 1
            try:
                chat(fake, content="child")
                code = 0 if llmpulse.flush(timeout=20) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        chat(fake, content="parent after fork")
        events = stored_events(server, project_key, 3)
        assert sorted(e["prompt"] for e in events) == [
            "child",
            "parent after fork",
            "parent before fork",
        ]
    finally:
        llmpulse.uninstrument()
        llmpulse.shutdown()


def test_import_is_light() -> None:
    code = (
        "import sys, llmpulse; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('chdb', 'fastapi', 'starlette', 'uvicorn', 'pydantic', 'openai', 'anthropic', 'httpx') "
        "or m.startswith(('llmpulse.server', 'llmpulse.store', 'llmpulse.ingest'))]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_long_prompts_are_clipped_and_split_into_bodies(
    server: Server, sdk: str, fake: FakeLLM
) -> None:
    """60 prompts of 150k characters: each is cut to 100k, and the ~6 MB batch goes out in
    bodies under the collector's 10 MB limit, none refused."""
    long_prompt = "lorem ipsum " * 12_500
    for i in range(60):
        chat(fake, content=f"{i} {long_prompt}")
    events = stored_events(server, sdk, 60)
    assert len(events) == 60
    assert {len(e["prompt"]) for e in events} == {100_000}
    assert llmpulse.stats()["refused"] == 0


def test_scores_from_the_sdk(server: Server, sdk: str, fake: FakeLLM) -> None:
    """score() on a call (its event id) and on the current trace, queued and delivered
    gzip'd with the events; the same id replaces; a refused score is counted, not raised."""

    @llmpulse.observe(name="answer")
    def answer() -> tuple[str, str]:
        chat(fake, content="rate me")
        trace = llmpulse.current_trace_id()
        assert trace is not None
        llmpulse.score("helpfulness", 0.8, source="eval", comment="judge v1")
        return trace, llmpulse.score("thumbs", True)

    trace, thumbs_id = answer()
    event = stored_events(server, sdk, 1)[0]
    llmpulse.score("label", "good", event_id=event["event_id"], source="annotator")
    llmpulse.score("thumbs", False, trace_id=trace, score_id=thumbs_id)  # changed their mind
    refused_before = llmpulse.stats()["refused"]
    assert llmpulse.flush(timeout=30)
    llmpulse.score("label", 3, event_id=event["event_id"])  # a categorical score: refused
    assert llmpulse.flush(timeout=30)
    assert llmpulse.stats()["refused"] == refused_before + 1
    with pytest.raises(ValueError, match="event_id or trace_id"):
        llmpulse.score("orphaned", 1)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {sdk}"}) as http:
        scores = http.get(f"/v1/requests/{event['event_id']}").json()["scores"]
    assert sorted((s["name"], s["value"], s["source"]) for s in scores) == [
        ("helpfulness", 0.8, "eval"), ("label", "good", "annotator"), ("thumbs", False, "user")
    ]  # fmt: skip
    assert all(s["trace_id"] == trace for s in scores if s["name"] != "label")

"""`llmpulse proxy` between the real openai/anthropic clients and the fake provider; events
as the real server stored them."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from conftest import Server, free_port
from fake_llm import FIRST_CHUNK_DELAY_S, WORDS, FakeLLM

MESSAGES = [{"role": "user", "content": "What is six times seven?"}]


class ProxyProcess:
    def __init__(self, upstream: str, collector: str, key: str, log: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "llmpulse", "proxy", "--upstream", upstream, "--port", str(self.port),
               "--collector", collector, "--api-key", key, *extra]  # fmt: skip
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ)
            )
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"proxy did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


@pytest.fixture
def proxy(
    server: Server, project_key: str, fake: FakeLLM, tmp_path: Path
) -> Iterator[ProxyProcess]:
    p = ProxyProcess(fake.url, server.url, project_key, tmp_path / "proxy.log")
    yield p
    p.stop()


def events_of(server: Server, key: str, expected: int, timeout: float = 30) -> list[dict]:
    """The proxy's events once stored (its exporter sends them within a second or two)."""
    deadline = time.monotonic() + timeout
    while True:
        with server.client(key) as http:
            server.wait_loaded()
            found = http.get("/v1/requests", params={"from": "-1h", "limit": 1000}).json()[
                "requests"
            ]
        if len(found) >= expected or time.monotonic() > deadline:
            return sorted(found, key=lambda e: (e["ts"], e["event_id"]))
        time.sleep(0.2)


def oa(proxy: ProxyProcess, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.url}/v1", api_key="sk-caller-secret", max_retries=0, **kwargs
    )  # type: ignore[arg-type]


def test_openai_call_with_context_headers(
    server: Server, project_key: str, fake: FakeLLM, proxy: ProxyProcess
) -> None:
    headers = {
        "X-LLMPulse-User": "u-9", "X-LLMPulse-Session": "s-9", "X-LLMPulse-Experiment": "tone",
        "X-LLMPulse-Variant": "B", "X-LLMPulse-Prompt-Version": "v4", "X-LLMPulse-Tags": "a, b",
        "X-LLMPulse-Metadata-Team": "search",
    }  # fmt: skip
    response = oa(proxy, default_headers=headers).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0.4
    )
    answer = fake.calls[-1]
    assert response.choices[0].message.content == answer.text
    # The caller's credentials went upstream; the context headers did not.
    assert answer.headers["authorization"] == "Bearer sk-caller-secret"
    assert not any(h.startswith("x-llmpulse") for h in answer.headers)

    [event] = events_of(server, project_key, 1)
    assert (event["model_id"], event["provider"], event["operation"]) == (
        "gpt-4o-mini",
        "openai",
        "chat",
    )
    assert (event["tokens_in"], event["tokens_out"]) == (answer.tokens_in, answer.tokens_out)
    assert event["cost_usd"] > 0 and event["status"] == "ok" and event["http_status"] == 200
    assert event["request_id"] == "req_fake_123"
    assert event["temperature"] == pytest.approx(0.4)
    assert event["completion"] == answer.text and event["prompt"] == "What is six times seven?"
    assert (event["user_id"], event["session_id"], event["prompt_version"]) == ("u-9", "s-9", "v4")
    assert (event["experiment_name"], event["experiment_variant"]) == ("tone", "B")
    assert event["tags"] == ["a", "b"] and event["metadata"] == {"team": "search"}
    assert "sk-caller-secret" not in str(event)


def test_openai_streams_sync_and_async(
    server: Server, project_key: str, fake: FakeLLM, proxy: ProxyProcess
) -> None:
    chunks = list(oa(proxy).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    answer = fake.calls[-1]
    assert answer.request["stream_options"] == {
        "include_usage": True
    }  # asked on the caller's behalf
    assert len(chunks) == answer.chunks_sent - 1  # ... and the usage chunk removed
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == answer.text

    async def main() -> list[str]:
        api = openai.AsyncOpenAI(base_url=f"{proxy.url}/v1", api_key="sk-x", max_retries=0)
        stream = await api.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                   stream_options={"include_usage": True})  # fmt: skip
        got = [c async for c in stream]
        assert got[-1].usage is not None  # asked for by the caller: kept
        plain = await api.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return [plain.choices[0].message.content or ""]

    assert asyncio.run(main()) == ["".join(WORDS)]
    events = events_of(server, project_key, 3)
    assert [e["stream"] for e in events] == [True, True, False]
    for event in events:
        assert event["tokens_out"] == len(WORDS) and event["completion"] == "".join(WORDS)
    for event in events[:2]:
        assert FIRST_CHUNK_DELAY_S * 1000 <= event["ttft_ms"] < event["latency_ms"]


def test_responses_api_through_the_proxy(
    server: Server, project_key: str, fake: FakeLLM, proxy: ProxyProcess
) -> None:
    whole = oa(proxy).responses.create(model="gpt-4.1", input="What is six times seven?")
    stream = oa(proxy).responses.create(model="gpt-4.1-mini", input="Hi", stream=True)
    deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
    assert whole.output_text == "".join(deltas) == "".join(WORDS)
    events = {e["model_id"]: e for e in events_of(server, project_key, 2)}
    assert {m: e["stream"] for m, e in events.items()} == {"gpt-4.1": False, "gpt-4.1-mini": True}
    for event in events.values():
        assert event["tokens_out"] == len(WORDS) and event["completion"] == "".join(WORDS)
        assert (event["status"], event["finish_reason"]) == ("ok", "completed")
    assert events["gpt-4.1"]["tokens_in"] == whole.usage.input_tokens  # type: ignore[union-attr]
    ttft = events["gpt-4.1-mini"]["ttft_ms"]
    assert FIRST_CHUNK_DELAY_S * 1000 <= ttft < events["gpt-4.1-mini"]["latency_ms"]


def test_anthropic_through_the_proxy(
    server: Server, project_key: str, fake: FakeLLM, proxy: ProxyProcess
) -> None:
    api = anthropic.Anthropic(base_url=proxy.url, api_key="sk-ant-caller", max_retries=0)
    message = api.messages.create(model="claude-haiku-4-5", messages=MESSAGES, max_tokens=50)
    sent = fake.calls[-1].headers  # the key, as this client version sends it, went upstream
    assert "sk-ant-caller" in (
        sent.get("x-api-key"),
        sent.get("authorization", "").removeprefix("Bearer "),
    )
    kinds = [
        e.type
        for e in api.messages.create(
            model="claude-haiku-4-5", messages=MESSAGES, max_tokens=50, stream=True
        )
    ]
    assert kinds.count("content_block_delta") == len(WORDS)
    events = events_of(server, project_key, 2)
    for event in events:
        assert (event["provider"], event["model_id"], event["finish_reason"]) == (
            "anthropic",
            "claude-haiku-4-5",
            "end_turn",
        )
        assert event["tokens_in"] == message.usage.input_tokens
        assert event["tokens_out"] == len(WORDS)
    assert events[1]["stream"] is True and events[1]["ttft_ms"] >= FIRST_CHUNK_DELAY_S * 1000


def test_upstream_errors_reach_the_caller_unchanged(
    server: Server, project_key: str, fake: FakeLLM, proxy: ProxyProcess
) -> None:
    direct = httpx.post(
        f"{fake.url}/v1/chat/completions", json={"model": "fake-429", "messages": MESSAGES}
    )
    proxied = httpx.post(
        f"{proxy.url}/v1/chat/completions", json={"model": "fake-429", "messages": MESSAGES}
    )
    assert (proxied.status_code, proxied.json()) == (direct.status_code, direct.json())
    assert proxied.headers["retry-after"] == "1"
    with pytest.raises(openai.InternalServerError):
        oa(proxy).chat.completions.create(model="fake-500", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError):
        oa(proxy).chat.completions.create(model="fake-context", messages=MESSAGES)
    events = events_of(server, project_key, 3)
    assert [(e["error_type"], e["http_status"]) for e in events] == [
        ("rate_limit", 429), ("server_error", 500), ("context_length", 400)]  # fmt: skip


def test_models_and_other_paths_pass_through(
    server: Server, project_key: str, proxy: ProxyProcess
) -> None:
    assert [m.id for m in oa(proxy).models.list()] == ["gpt-4o-mini"]
    assert httpx.get(f"{proxy.url}/v1/nowhere").status_code == 404
    time.sleep(1.5)
    assert events_of(server, project_key, 0, timeout=0) == []


def test_caller_disconnect_cancels_upstream(
    server: Server, project_key: str, fake: FakeLLM, proxy: ProxyProcess
) -> None:
    stream = oa(proxy).chat.completions.create(
        model="fake-slow-stream", messages=MESSAGES, stream=True
    )
    for n, _ in enumerate(stream):
        if n == 2:
            break
    stream.close()
    answer = fake.calls[-1]
    [event] = events_of(server, project_key, 1)
    assert (event["status"], event["error_type"]) == ("error", "cancelled")
    deadline = time.monotonic() + 5
    while answer.chunks_sent < len(WORDS) + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not answer.stream_finished  # the upstream stream was closed, not read to the end
    assert answer.chunks_sent < len(WORDS) + 2


def test_caller_leaving_mid_request_sends_nothing_upstream(
    server: Server, project_key: str, fake: FakeLLM, proxy: ProxyProcess
) -> None:
    before = len(fake.calls)  # the fake is shared with other tests
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 500\r\n\r\n{"model": "gpt-4o", "mess'
        )
    time.sleep(0.5)
    assert len(fake.calls) == before
    answer = oa(proxy).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert answer.choices[0].message.content == "".join(WORDS)
    [event] = events_of(server, project_key, 1)
    assert event["status"] == "ok"


def test_request_body_over_the_limit_gets_413(
    server: Server, project_key: str, fake: FakeLLM, tmp_path: Path
) -> None:
    """Bodies are read whole, so they are capped: announced or chunked, an oversized one is
    refused in the API's own error format, nothing goes upstream, and the proxy serves on."""
    p = ProxyProcess(
        fake.url, server.url, project_key, tmp_path / "proxy.log", "--max-request-mb", "1"
    )
    before = len(fake.calls)
    big = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 2**20}]}
    try:
        with pytest.raises(openai.APIStatusError) as raised:
            oa(p).chat.completions.create(**big)  # type: ignore[call-overload]
        assert raised.value.status_code == 413
        assert "over the LLMPulse proxy's limit of 1 MiB" in raised.value.message
        assert "--max-request-mb" in raised.value.message

        def chunked() -> Iterator[bytes]:  # no Content-Length: the proxy counts as it reads
            for _ in range(40):
                yield b"y" * 2**15

        response = httpx.post(f"{p.url}/v1/messages", content=chunked(), timeout=30)
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "request_too_large"

        answer = oa(p).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert answer.choices[0].message.content == "".join(WORDS)
        assert len(fake.calls) == before + 1
    finally:
        p.stop()


def test_unreachable_upstream_and_collector(
    server: Server, project_key: str, fake: FakeLLM, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    p = ProxyProcess(dead, server.url, project_key, tmp_path / "p1.log")
    try:
        with pytest.raises(openai.InternalServerError) as raised:
            oa(p).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert raised.value.status_code == 502
        assert "could not reach the upstream" in str(raised.value)
        [event] = events_of(server, project_key, 1)
        assert (event["error_type"], event["http_status"]) == ("network", 502)
    finally:
        p.stop()
    # The collector down: calls go through as if nothing were there.
    p = ProxyProcess(fake.url, dead, project_key, tmp_path / "p2.log")
    try:
        for _ in range(5):
            assert oa(p).chat.completions.create(model="gpt-4o", messages=MESSAGES).choices
    finally:
        p.stop()


def test_several_workers_record_each_call_once_and_flush_on_stop(
    server: Server, project_key: str, fake: FakeLLM, tmp_path: Path
) -> None:
    """--workers 3: concurrent streamed calls spread over the worker processes; each call is
    stored exactly once, including those still queued when the proxy is stopped."""
    p = ProxyProcess(fake.url, server.url, project_key, tmp_path / "proxy.log", "--workers", "3")
    users = [f"user-{i}" for i in range(60)]

    async def call(api: openai.AsyncOpenAI, user: str) -> str:
        stream = await api.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True,
            extra_headers={"X-LLMPulse-User": user},
        )  # fmt: skip
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def run() -> list[str]:
        api = openai.AsyncOpenAI(base_url=f"{p.url}/v1", api_key="sk-x", max_retries=0)
        async with api:
            return await asyncio.gather(*(call(api, u) for u in users))

    try:
        answers = asyncio.run(run())
    finally:
        p.stop()  # at once: the workers flush what they still hold as they stop
    assert answers == ["".join(WORDS)] * len(users)
    stored = events_of(server, project_key, len(users))
    assert sorted(e["user_id"] for e in stored) == sorted(users)
    assert len({e["event_id"] for e in stored}) == len(users)
    assert all(e["status"] == "ok" and e["tokens_out"] == len(WORDS) for e in stored)
    log = (tmp_path / "proxy.log").read_text()
    assert "3 worker processes" in log


def test_bad_worker_count_is_refused(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "llmpulse", "proxy", "--upstream", "http://127.0.0.1:9", "--workers", "0"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert out.returncode == 2
    assert "Invalid value for '--workers'" in out.stderr
    assert "greater than or equal to 1" in out.stderr

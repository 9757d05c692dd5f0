"""`llmpulse probe` against the fake provider; its calls as the real server stored them."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Server, run_cli
from fake_llm import WORDS, FakeLLM
from llmpulse.probe.prompts import load_prompts
from sdk_helpers import stored_events

QUICK = [
    line.strip()
    for line in (Path(__file__).parent.parent / "src/llmpulse/probe/prompt_sets/quick.txt")
    .read_text()
    .splitlines()
    if line.strip()
]


def probe(fake: FakeLLM, server: Server, key: str, *args: str) -> str:
    result = run_cli(
        "probe",
        "--base-url",
        f"{fake.url}/v1",
        "--collector",
        server.url,
        "--collector-key",
        key,
        *args,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_streamed_run_records_every_call(server: Server, project_key: str, fake: FakeLLM) -> None:
    out = probe(
        fake,
        server,
        project_key,
        "--model",
        "gpt-4o-mini",
        "--count",
        "6",
        "--concurrency",
        "2",
        "--stream",
    )
    assert "6 calls recorded" in out
    row = next(line for line in out.splitlines() if "gpt-4o-mini" in line)
    assert row.split()[1:4] == ["6", "6", "0"]  # sent, ok, failed
    events = stored_events(server, project_key, 6)
    assert sorted(e["prompt"] for e in events) == sorted(QUICK[:6])
    assert all(
        e["stream"] and e["tokens_out"] == len(WORDS) and e["ttft_ms"] is not None for e in events
    )


def test_compare_runs_the_same_prompts_on_each_model(
    server: Server, project_key: str, fake: FakeLLM
) -> None:
    out = probe(
        fake,
        server,
        project_key,
        "--compare",
        "gpt-4o,gpt-4o-mini",
        "--prompts",
        "code",
        "--rate",
        "50/s",
    )
    assert "10 calls recorded" in out
    events = stored_events(server, project_key, 10)
    by_model: dict[str, list[str]] = {}
    for e in events:
        by_model.setdefault(e["model_id"], []).append(e["prompt"])
    assert sorted(by_model) == ["gpt-4o", "gpt-4o-mini"]
    assert sorted(by_model["gpt-4o"]) == sorted(by_model["gpt-4o-mini"])
    assert len(by_model["gpt-4o"]) == len(load_prompts("code")) == 5


def test_failures_are_counted_and_recorded(server: Server, project_key: str, fake: FakeLLM) -> None:
    out = probe(fake, server, project_key, "--model", "fake-500", "--count", "3", "--loop")
    assert "3 x InternalServerError" in out
    events = stored_events(server, project_key, 3)
    assert [e["error_type"] for e in events] == ["server_error"] * 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "m", "--prompts", "/nope.txt"], "/nope.txt: no such file"),
        (["--model", "m", "--rate", "fast"], "is not a rate like 2/s"),
        (
            ["--model", "m", "--rate", "2/s", "--concurrency", "3"],
            "--rate and --concurrency are alternatives",
        ),
        (["--model", "m", "--loop"], "--loop needs --count or --duration"),
        ([], "name a --model"),
        (["--model", "m", "--prompts", "BAD"], "line 2: not JSON"),
    ],
)
def test_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    if "BAD" in args:
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{oops\n')
        args = [str(bad) if a == "BAD" else a for a in args]
    result = run_cli("probe", "--base-url", "http://127.0.0.1:9/v1", *args)
    assert result.returncode != 0
    assert message in " ".join((result.stdout + result.stderr).split())

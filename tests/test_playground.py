"""The playground page and the trace tree of the request page, in real headless Chromium,
against the fake provider configured with --llm; calls as the real server stored them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

import llmpulse
from conftest import ADMIN_KEY, Server, run_cli
from fake_llm import WORDS, FakeLLM
from sdk_helpers import stored_events
from test_dashboard import CHROMIUM, browser, logged_in  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


QUICK_PROMPTS = (
    (Path(llmpulse.__file__).parent / "probe" / "prompt_sets" / "quick.txt")
    .read_text()
    .splitlines()
)
PRICE_IN, PRICE_OUT = 3.0, 15.0  # USD per million tokens of "priced-model", from --prices


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, fake: FakeLLM) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("playground")
    prices = folder / "prices.yaml"
    prices.write_text(f"priced-model: {{input: {PRICE_IN}, output: {PRICE_OUT}}}\n")
    server = Server(
        folder / "data", "--llm", f"openai={fake.url}/v1", "--prices", str(prices)
    ).start()
    yield server
    server.stop()


def test_prompt_streams_in_and_is_recorded(browser: Browser, site: Server, fake: FakeLLM) -> None:  # noqa: F811
    page = logged_in(browser, site)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{site.url}/playground")
    page.fill("#pg-model", "gpt-4o-mini")
    page.fill("#pg-prompt", "What is six times seven?")
    page.click("#pg-send")
    page.wait_for_function(
        "document.getElementById('pg-cost').textContent.startsWith('$')", timeout=30_000
    )
    answer = fake.calls[-1]
    assert page.locator("#pg-answer").inner_text() == "".join(WORDS)
    assert page.locator("#pg-tokens").inner_text() == f"{answer.tokens_in} / {answer.tokens_out}"
    event_id = page.locator("#pg-event").inner_text()
    stored = httpx.get(
        f"{site.url}/v1/requests/{event_id}", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ).json()
    assert (stored["model_id"], stored["provider"], stored["tokens_out"]) == (
        "gpt-4o-mini",
        "openai",
        len(WORDS),
    )
    assert stored["prompt"] == "What is six times seven?" and stored["completion"] == "".join(WORDS)
    assert page.locator("#pg-cost").inner_text() == f"${stored['cost_usd']:.6f}"
    assert page.locator("#pg-latency").inner_text() == f"{stored['latency_ms']:.0f} ms"
    assert stored["tags"] == ["playground"]
    assert errors == []


def test_auto_stream_runs_and_stops(browser: Browser, site: Server) -> None:  # noqa: F811
    page = logged_in(browser, site)
    page.goto(f"{site.url}/playground")
    page.fill("#pg-model", "auto-model")
    page.fill("#auto-delay", "0.5")
    page.fill("#auto-count", "3")
    page.fill("#auto-max-tokens", "100")
    page.locator("#auto-max-tokens").dispatch_event("change")
    # The estimate is shown before anything starts: 3 calls, the prompts' characters / 4.
    tokens_in = -(-sum(len(p) for p in QUICK_PROMPTS[:3]) // 4)
    page.wait_for_function(
        "document.getElementById('auto-estimate').textContent.includes('3 calls')"
    )
    assert page.locator("#auto-estimate").inner_text() == (
        f"Estimate: 3 calls over ~1 s, ~{tokens_in} tokens in, ≤ 300 out, "
        "cost unknown (the model has no price)"
    )
    page.click("#auto-start")
    page.wait_for_function(
        "document.getElementById('auto-progress').textContent.startsWith('stopped: 3 of 3 sent, 3 ok')",
        timeout=30_000,
    )
    events = [e for e in stored_events(site, ADMIN_KEY, 3) if e["model_id"] == "auto-model"]
    assert len(events) == 3
    # A long run stops when asked.
    page.fill("#auto-count", "1000")
    page.fill("#auto-delay", "0.5")
    page.click("#auto-start")
    page.wait_for_function(
        "document.getElementById('auto-progress').textContent.startsWith('running')"
    )
    page.click("#auto-stop")
    page.wait_for_function(
        "document.getElementById('auto-progress').textContent.startsWith('stopped')"
    )
    assert int(page.locator("#auto-progress").inner_text().split()[1]) < 1000


def test_estimate_of_a_priced_model(site: Server) -> None:
    """The upper bound of a run's cost: prompt tokens ~ characters / 4, every answer at
    max_tokens, at the --prices file's rates; thousands of calls cycle the prompt set."""
    run = {"endpoint": "openai", "model": "priced-model", "prompts": "quick", "delay_s": 2,
           "count": 1000, "max_tokens": 50}  # fmt: skip
    with site.client() as http:
        estimate = http.post("/v1/playground/autostream/estimate", json=run).json()
    chars = sum(len(QUICK_PROMPTS[n % len(QUICK_PROMPTS)]) for n in range(1000))
    tokens_in = -(-chars // 4)
    assert estimate["calls"] == 1000 and estimate["tokens_in"] == tokens_in
    assert estimate["max_tokens_out"] == 50_000 and estimate["duration_s"] == 999 * 2
    expected = (tokens_in * PRICE_IN + 50_000 * PRICE_OUT) / 1e6
    assert estimate["max_cost_usd"] == pytest.approx(expected, rel=1e-9)


def test_calls_need_an_admin_key_and_stay_within_caps(
    browser: Browser,  # noqa: F811
    site: Server,
    fake: FakeLLM,
) -> None:
    """A key without admin (ingest+read, the default for new keys) cannot spend the
    operator's LLM key: 403 on every call, and the page says why; an admin key is held to
    the caps on count and rate."""
    from llmpulse.meta.keys import DEFAULT_SCOPES, KeyStore

    reader = KeyStore(site.data_dir / "keys.sqlite3").create_key("test", DEFAULT_SCOPES)[1]
    calls_before = len(fake.calls)
    run = {"endpoint": "openai", "model": "m", "prompts": "quick", "count": 5, "delay_s": 1}
    with site.client(reader) as http:
        for method, path, body in [
            ("POST", "/v1/playground/chat", {"endpoint": "openai", "model": "m", "prompt": "hi"}),
            ("POST", "/v1/playground/autostream", run),
            ("DELETE", "/v1/playground/autostream", None),
        ]:
            r = http.request(method, path, json=body)
            assert r.status_code == 403, (path, r.text)
            assert "lacks the 'admin' scope" in r.json()["error"]
        # Reading what is configured, and estimating, spend nothing: read is enough.
        assert http.get("/v1/playground/endpoints").json() == {"endpoints": ["openai"]}
        assert http.post("/v1/playground/autostream/estimate", json=run).status_code == 200
    assert len(fake.calls) == calls_before

    page = logged_in(browser, site, reader)
    page.goto(f"{site.url}/playground")
    assert "admin" in page.locator("#needs-admin").inner_text()
    assert page.locator("#pg-send").is_disabled() and page.locator("#auto-start").is_disabled()

    with site.client() as http:
        for field, value, message in [
            ("count", 1001, "less than or equal to 1000"),
            ("delay_s", 0.1, "greater than or equal to 0.5"),
            ("delay_s", 0, "greater than or equal to 0.5"),
        ]:
            r = http.post("/v1/playground/autostream", json={**run, field: value})
            assert r.status_code == 400, r.text
            assert r.json()["detail"][0] == {"field": field, "error": f"Input should be {message}"}
    assert len(fake.calls) == calls_before


def test_bad_requests(site: Server) -> None:
    with site.client() as http:
        unknown = http.post(
            "/v1/playground/chat", json={"endpoint": "nope", "model": "m", "prompt": "hi"}
        )
        assert (
            unknown.status_code == 400
            and "unknown endpoint 'nope' (configured: openai)" in unknown.json()["error"]
        )
        empty = http.post(
            "/v1/playground/chat", json={"endpoint": "openai", "model": "m", "prompt": ""}
        )
        assert empty.status_code == 400 and empty.json()["detail"][0]["field"] == "prompt"
        bad_set = http.post(
            "/v1/playground/autostream",
            json={"endpoint": "openai", "model": "m", "prompts": "nope"},
        )
        assert bad_set.status_code == 400 and "unknown prompt set" in bad_set.json()["error"]
    assert httpx.post(f"{site.url}/v1/playground/chat", json={}).status_code == 401


def test_request_detail_draws_the_whole_trace(browser: Browser, site: Server) -> None:  # noqa: F811
    """A trace sent over OTLP (agent -> tool, agent -> LLM call) drawn as a tree on the
    request page, the opened call in bold."""
    trace = "7bf92f3577b34da6a3ce929d0e0e4736"
    now = time.time_ns() - 5_000_000_000

    def span(
        span_id: str, parent: str, name: str, offset_ms: int, kind: str, **attrs: Any
    ) -> dict[str, Any]:
        attributes = [{"key": "openinference.span.kind", "value": {"stringValue": kind}}]
        attributes += [
            {"key": k.replace("__", "."), "value": {"stringValue": v}} for k, v in attrs.items()
        ]
        return {"traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": name,
                "startTimeUnixNano": str(now + offset_ms * 10**6),
                "endTimeUnixNano": str(now + (offset_ms + 100) * 10**6), "attributes": attributes}  # fmt: skip

    spans = [
        span("a000000000000001", "", "agent", 0, "AGENT"),
        span("a000000000000002", "a000000000000001", "search", 10, "TOOL"),
        span(
            "a000000000000003",
            "a000000000000001",
            "ChatCompletion",
            50,
            "LLM",
            llm__model_name="gpt-4o-mini",
        ),
    ]
    body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    with site.client() as http:
        assert http.post("/v1/traces", json=body).status_code == 200
    site.wait_loaded()
    page = logged_in(browser, site)
    page.goto(f"{site.url}/requests?q={trace}")
    page.locator("tr[data-event]").first.click()
    page.locator("#trace-tree li").nth(2).wait_for()
    items = page.locator("#trace-tree li")
    texts = [items.nth(i).inner_text() for i in range(items.count())]
    assert [t.split(" (")[0] for t in texts] == ["agent", "search", "gpt-4o-mini"]
    assert " ".join(texts[2].split()) == "gpt-4o-mini (chat, LLM) +50 ms 100 ms ok"
    indents = [items.nth(i).evaluate("e => e.style.paddingLeft") for i in range(3)]
    assert indents == ["0em", "1.2em", "1.2em"]
    assert items.nth(2).get_attribute("class") == "current"


def test_request_detail_with_a_trace_but_no_span_ids(browser: Browser, site: Server) -> None:  # noqa: F811
    """Events that carry a trace_id but no span_id (and two spans each naming the other as
    parent) once crashed the detail panel with 'Maximum call stack size exceeded': the
    tree and the same-trace and same-session lists are drawn."""
    trace = "0af7651916cd43dd8448eb211c80319c"
    now = time.time_ns()
    sent = [
        {"model_id": "no-span-a", "latency_ms": 10, "trace_id": trace, "session_id": "s-ns"},
        {"model_id": "no-span-b", "latency_ms": 20, "trace_id": trace, "session_id": "s-ns"},
    ]
    loop = [
        {"traceId": trace, "spanId": a, "parentSpanId": b, "name": name,
         "startTimeUnixNano": str(now - 10**9), "endTimeUnixNano": str(now)}
        for a, b, name in (("b000000000000001", "b000000000000002", "loop-1"),
                           ("b000000000000002", "b000000000000001", "loop-2"))
    ]  # fmt: skip
    with site.client() as http:
        assert http.post("/v1/events", json=sent).status_code == 202
        body = {"resourceSpans": [{"scopeSpans": [{"spans": loop}]}]}
        assert http.post("/v1/traces", json=body).status_code == 200
    site.wait_loaded()
    page = logged_in(browser, site)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{site.url}/requests?q={trace}")
    page.locator("tr[data-event]", has_text="no-span-a").click()
    page.locator("#trace-tree li").nth(3).wait_for()
    names = sorted(t.split(" (")[0] for t in page.locator("#trace-tree li").all_inner_texts())
    assert names == ["loop-1", "loop-2", "no-span-a", "no-span-b"]
    detail = page.locator("#detail").inner_text()
    assert "Same trace (1)" in detail and "Same session (1)" in detail
    assert errors == []


def test_bad_llm_option_is_refused(tmp_path: Path) -> None:
    result = run_cli("serve", "--llm", "openai=localhost:11434", data_dir=tmp_path / "data")
    assert result.returncode != 0
    assert "is not NAME=URL[,KEY] with an http(s) URL" in " ".join(result.stderr.split())

"""Key scopes and project isolation, enumerated from the server's own route list, so an
endpoint added later is covered without touching this file (or fails here until its
scope is declared)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, OTHER_KEY, Server, run_cli

SCOPES = ("ingest", "read", "admin")
# Routes that answer without a key by design: ops endpoints with no project's data.
OPEN = {("GET", "/health"), ("GET", "/metrics")}
# Routes other than reads that need a scope, and what each needs.
NEEDS = {
    ("POST", "/v1/events"): "ingest",
    ("GET", "/v1/pipeline"): "admin",  # operations: nodes, URLs, counters of every project
    ("POST", "/v1/traces"): "ingest",
    ("POST", "/v1/scores"): "ingest",
    ("POST", "/v1/playground/chat"): "admin",
    ("POST", "/v1/playground/autostream"): "admin",
    ("DELETE", "/v1/playground/autostream"): "admin",
    ("POST", "/v1/playground/autostream/estimate"): "read",  # spends nothing
    ("POST", "/v1/alerts/rules"): "admin",
    ("PUT", "/v1/alerts/rules/{rule_id}"): "admin",
    ("DELETE", "/v1/alerts/rules/{rule_id}"): "admin",
    ("POST", "/v1/alerts/silences"): "admin",
    ("DELETE", "/v1/alerts/silences/{silence_id}"): "admin",
    ("PUT", "/v1/alerts/channels/{channel_id}"): "admin",
    ("DELETE", "/v1/alerts/channels/{channel_id}"): "admin",
    ("POST", "/v1/alerts/channels/{channel_id}/test"): "admin",
    ("POST", "/v1/alerts/evaluate"): "admin",
    ("POST", "/v1/alerts/rules/backtest"): "read",  # sends nothing
    ("POST", "/v1/slos"): "admin",
    ("PUT", "/v1/slos/{slo_id}"): "admin",
    ("DELETE", "/v1/slos/{slo_id}"): "admin",
    ("PUT", "/v1/drift/baselines/{name}"): "admin",
    ("DELETE", "/v1/drift/baselines/{name}"): "admin",
    ("PUT", "/v1/pricing/overrides"): "admin",
    ("DELETE", "/v1/pricing/overrides/{override_id}"): "admin",
    ("POST", "/v1/pricing/recost"): "admin",
    ("PUT", "/v1/costs/budgets/{name}"): "admin",
    ("DELETE", "/v1/costs/budgets/{name}"): "admin",
    ("PUT", "/v1/costs/capacity/limits/{provider}"): "admin",
    ("DELETE", "/v1/costs/capacity/limits/{provider}"): "admin",
    ("PUT", "/v1/projects/{project}/retention"): "admin",
    ("DELETE", "/v1/users/{user_id}"): "admin",
    ("GET", "/v1/users/erasures"): "admin",
    ("PUT", "/v1/settings/redaction"): "admin",
    ("POST", "/v1/social/posts"): "ingest",
    ("PUT", "/v1/social/settings"): "admin",
    ("POST", "/v1/logs"): "ingest",
    ("POST", "/v1/metrics"): "ingest",
}
PAGES = ("/", "/requests", "/models", "/errors", "/costs", "/users", "/playground", "/drift",
         "/quality", "/project", "/social", "/logs")  # fmt: skip


def required_scope(method: str, path: str) -> str:
    if (method, path) in NEEDS:
        return NEEDS[(method, path)]
    assert method == "GET", f"{method} {path}: declare the scope it needs in NEEDS"
    return "read"


def routes(server: Server) -> list[tuple[str, str]]:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    found = [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if (method.upper(), path) not in OPEN
    ]
    assert len(found) >= 15, found  # the spec lists the API, not an empty document
    return found


@pytest.fixture(scope="module")
def marked(server: Server) -> dict[str, str]:
    """One event and trace in project 'test', with values no other project has."""
    tag = uuid.uuid4().hex[:12]
    mark = {
        "event_id": str(uuid.uuid4()),
        "model_id": f"secret-model-{tag}",
        "user_id": f"secret-user-{tag}",
        "session_id": f"secret-session-{tag}",
        "trace_id": uuid.uuid4().hex,
        "prompt_version": f"secret-pv-{tag}",
    }
    with server.client(ADMIN_KEY) as http:
        r = http.post("/v1/events", json={**mark, "latency_ms": 5, "span_id": "ab" * 8,
                                         "status": "error", "error_type": "timeout",
                                         "experiment": {"name": f"secret-exp-{tag}",
                                                        "variant": "A"}})  # fmt: skip
        assert r.status_code == 202
    server.wait_loaded()
    return {**mark, "experiment": f"secret-exp-{tag}"}


def call(http: httpx.Client, method: str, path: str, mark: dict[str, str]) -> httpx.Response:
    """A well-formed request to the route, about the marked event where it takes one."""
    filled = path.format(event_id=mark["event_id"], trace_id=mark["trace_id"],
                         rule_id="none", silence_id="none", channel_id="none",
                         slo_id="none", name=mark["experiment"], override_id="none",
                         provider="none", job_id="none", project="test",
                         user_id="none")  # fmt: skip
    assert "{" not in filled, f"{path}: add its path parameter to call()"
    body: Any = None
    if method == "POST" and path == "/v1/events":
        body = {"model_id": "scope-probe", "latency_ms": 1}
    elif method == "POST" and path == "/v1/traces":
        body = {"resourceSpans": []}
    elif method in ("POST", "PUT"):  # incomplete: checked and refused, nothing spends
        body = {"endpoint": "none", "model": "m", "prompt": "hi", "prompts": "quick"}
    params = {"from": "-1h"} if method == "GET" else None
    return http.request(method, filled, json=body, params=params)


@pytest.fixture(scope="module")
def scoped_keys(server: Server) -> Iterator[dict[str, str]]:
    from llmpulse.meta.keys import KeyStore

    keys = KeyStore(server.data_dir / "keys.sqlite3")
    yield {scope: keys.create_key("test", frozenset({scope}))[1] for scope in SCOPES}


@pytest.mark.parametrize("scope", SCOPES)
def test_each_route_with_each_scope(
    server: Server, scoped_keys: dict[str, str], marked: dict[str, str], scope: str
) -> None:
    """A key reaches exactly the routes its scope allows; the others answer 403 naming the
    missing scope."""
    with server.client(scoped_keys[scope]) as http:
        for method, path in routes(server):
            needed = required_scope(method, path)
            r = call(http, method, path, marked)
            if needed == scope:
                assert r.status_code not in (401, 403), (scope, method, path, r.text)
                assert r.status_code < 500, (scope, method, path, r.text)
            else:
                assert r.status_code == 403, (scope, method, path, r.text)
                assert f"lacks the '{needed}' scope" in r.json()["error"]
                assert r.json()["detail"] == [{"field": "scope", "error": f"'{needed}' required"}]


@pytest.mark.parametrize("scope", SCOPES)
def test_pages_need_the_read_scope(server: Server, scoped_keys: dict[str, str], scope: str) -> None:
    with httpx.Client(base_url=server.url, cookies={"llmpulse_key": scoped_keys[scope]}) as http:
        for page in PAGES:
            r = http.get(page, follow_redirects=False)
            if scope == "read":
                assert r.status_code == 200, (page, r.text[:300])
            else:
                assert r.status_code == 303 and "/login" in r.headers["location"], page


def test_no_read_reaches_another_project(server: Server, marked: dict[str, str]) -> None:
    """Every read route, and every page, asked by another project's all-scope key about
    project 'test''s event, trace, model and user: nothing of it comes back."""
    secrets = [v for k, v in marked.items() if k != "event_id"] + [marked["event_id"]]
    reads = [(m, p) for m, p in routes(server) if required_scope(m, p) == "read"]
    with server.client(OTHER_KEY) as http:
        for method, path in reads:
            r = call(http, method, path, marked)
            assert r.status_code in (200, 400, 404, 422), (path, r.text)
            asked = []
            if "{" in path:  # a 404 may repeat the id it was asked for, nothing else
                assert r.status_code == 404, path
                asked = [marked["event_id"], marked["trace_id"], marked["experiment"]]
            for secret in secrets:
                assert secret in asked or secret not in r.text, (path, secret)
            # ... also when asked for by name in the filters.
            if method == "GET" and "{" not in path:
                filtered = http.get(path, params={"from": "-1h", "model_id": marked["model_id"],
                                                  "user_id": marked["user_id"]})  # fmt: skip
                for secret in secrets:
                    assert secret not in filtered.text, (path, secret)
    with httpx.Client(base_url=server.url, cookies={"llmpulse_key": OTHER_KEY}) as http:
        pages = [(p, {"q": marked["trace_id"]}, marked["trace_id"]) for p in PAGES]
        pages.append((f"/sessions/{marked['session_id']}", {}, marked["session_id"]))
        for page, params, asked in pages:  # a page repeats what it was asked, nothing else
            r = http.get(page, params=params)
            assert r.status_code == 200, page
            for secret in secrets:
                assert secret == asked or secret not in r.text, (page, secret)
    # The owner sees it: the marks are real.
    with server.client(ADMIN_KEY) as http:
        assert marked["model_id"] in http.get("/v1/requests", params={"from": "-1h"}).text


def test_open_routes_carry_no_project_data(server: Server, marked: dict[str, str]) -> None:
    health = httpx.get(f"{server.url}/health")
    assert set(health.json()) == {"status", "version"}
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "llmpulse_events_accepted" in metrics
    for secret in marked.values():
        assert secret not in health.text and secret not in metrics


def test_cli_key_scopes(server: Server) -> None:
    data_dir = server.data_dir
    run_cli("projects", "create", "scoped", data_dir=data_dir)
    default = run_cli("keys", "create", "--project", "scoped", data_dir=data_dir)
    assert default.returncode == 0, default.stderr
    assert "scopes ingest,read (the default" in " ".join(default.stdout.split())
    app_key = run_cli("keys", "create", "--project", "scoped", "--scope", "ingest",
                      data_dir=data_dir)  # fmt: skip
    assert "scopes ingest)" in app_key.stdout
    key = next(line for line in app_key.stdout.splitlines() if line.startswith("lp_"))
    with server.client(key) as http:
        assert http.post("/v1/events", json={"model_id": "m", "latency_ms": 1}).status_code == 202
        assert http.get("/v1/requests").status_code == 403
    both = run_cli("keys", "create", "-p", "scoped", "-s", "read", "-s", "admin", data_dir=data_dir)
    assert "scopes read,admin)" in both.stdout
    bad = run_cli("keys", "create", "-p", "scoped", "--scope", "root", data_dir=data_dir)
    assert bad.returncode == 1 and "unknown scope root: use ingest, read, admin" in bad.stderr
    assert "Traceback" not in bad.stderr
    listing = " ".join(run_cli("keys", "list", data_dir=data_dir).stdout.split())
    assert "ingest,read" in listing and "read,admin" in listing

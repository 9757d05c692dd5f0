"""Auth (no key, wrong key, revoked key, project isolation) and the CLI around it."""

from __future__ import annotations

from pathlib import Path

import httpx

from conftest import ADMIN_KEY, OTHER_KEY, Server, free_port, run_cli


def test_requests_without_a_valid_key_get_401(server: Server) -> None:
    cases = [
        ({}, "missing API key"),
        ({"Authorization": "Bearer lp_nope"}, "unknown or revoked"),
        ({"Authorization": "Basic abc"}, "expected 'Bearer KEY'"),
    ]
    for headers, message in cases:
        for method, path in (
            ("POST", "/v1/events"),
            ("GET", "/v1/metrics/summary"),
            ("GET", "/v1/requests"),
        ):
            r = httpx.request(
                method, server.url + path, headers=headers, json={"model_id": "m", "latency_ms": 1}
            )
            assert r.status_code == 401, (path, r.text)
            assert message in r.json()["error"]
            assert r.headers["www-authenticate"] == "Bearer"


def test_one_project_cannot_see_another(server: Server) -> None:
    event = {
        "event_id": "5e2f3c1a-1111-4222-8333-444455556666",
        "model_id": "secret-model",
        "latency_ms": 3,
    }
    with server.client(ADMIN_KEY) as mine:
        assert mine.post("/v1/events", json=event).status_code == 202
    server.wait_loaded()
    with server.client(OTHER_KEY) as theirs:
        groups = theirs.get("/v1/metrics/summary", params={"group_by": "model_id"}).json()["groups"]
        assert "secret-model" not in [g["key"]["model_id"] for g in groups]
        assert theirs.get(f"/v1/requests/{event['event_id']}").status_code == 404
        assert event["event_id"] not in theirs.get("/v1/requests").text
    with server.client(ADMIN_KEY) as mine:
        assert mine.get(f"/v1/requests/{event['event_id']}").json()["model_id"] == "secret-model"


def test_cli_projects_and_keys_while_server_runs(server: Server) -> None:
    data_dir = server.data_dir
    created = run_cli("projects", "create", "cli-proj", data_dir=data_dir)
    assert created.returncode == 0, created.stderr
    again = run_cli("projects", "create", "cli-proj", data_dir=data_dir)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "\n" not in again.stderr.strip(), "one clear line, no traceback"
    assert "cli-proj" in run_cli("projects", "list", data_dir=data_dir).stdout

    out = run_cli("keys", "create", "--project", "cli-proj", data_dir=data_dir)
    assert out.returncode == 0, out.stderr
    key_id = out.stdout.split("key id: ")[1].split()[0]
    key = next(line for line in out.stdout.splitlines() if line.startswith("lp_"))
    assert key not in (data_dir / "keys.sqlite3").read_bytes().decode("latin-1"), (
        "keys are stored hashed"
    )

    with server.client(key) as http:
        assert http.post("/v1/events", json={"model_id": "m", "latency_ms": 1}).status_code == 202
    listing = run_cli("keys", "list", data_dir=data_dir).stdout
    assert key_id in listing and "active" in listing

    revoked = run_cli("keys", "revoke", key_id, data_dir=data_dir)
    assert revoked.returncode == 0, revoked.stderr
    with server.client(key) as http:
        r = http.post("/v1/events", json={"model_id": "m", "latency_ms": 1})
    assert r.status_code == 401 and "revoked" in r.json()["error"]
    assert "revoked" in run_cli("keys", "list", data_dir=data_dir).stdout
    assert "no key with id" in run_cli("keys", "revoke", "ffffffff", data_dir=data_dir).stderr
    missing = run_cli("keys", "create", "--project", "nope", data_dir=data_dir)
    assert missing.returncode == 1 and "projects create nope" in missing.stderr


def test_no_auth_only_on_loopback(tmp_path: Path) -> None:
    refused = run_cli(
        "serve", "--no-auth", "--host", "0.0.0.0", "--port", str(free_port()), data_dir=tmp_path
    )
    assert refused.returncode == 1
    assert "--no-auth is refused on 0.0.0.0" in refused.stderr
    assert "Traceback" not in refused.stderr

    server = Server(tmp_path / "open", "--no-auth").start()
    try:
        r = httpx.post(f"{server.url}/v1/events", json={"model_id": "m", "latency_ms": 1})
        assert r.status_code == 202
        page = httpx.get(f"{server.url}/")  # the dashboard asks for no login either
        assert page.status_code == 200 and "Log out" not in page.text
    finally:
        server.stop()


def test_every_command_has_help() -> None:
    for command in ([], ["serve"], ["simulate"], ["demo"], ["projects", "create"], ["keys", "create"],
                    ["keys", "list"], ["keys", "revoke"], ["alerts"], ["alerts", "apply"],
                    ["alerts", "eval"], ["alerts", "rules"], ["alerts", "history"],
                    ["alerts", "silence"]):  # fmt: skip
        out = run_cli(*command, "--help")
        assert out.returncode == 0, (command, out.stderr)
        assert "Usage" in out.stdout


def test_simulate_command_sends_count_events(server: Server, project_key: str) -> None:
    out = run_cli("simulate", "--url", server.url, "--api-key", project_key, "--count", "1200",
                  "--qps", "0", "--seed", "5", "--backfill", "1h")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "accepted 1200" in out.stdout
    server.wait_loaded()
    with server.client(project_key) as http:
        groups = http.get(
            "/v1/metrics/summary", params={"group_by": "provider", "from": "-2h"}
        ).json()["groups"]
    assert sum(g["requests"] for g in groups) == 1200
    assert {g["key"]["provider"] for g in groups} >= {
        "openai",
        "anthropic",
        "google",
        "x-ai",
        "ollama",
    }
    bad_url = run_cli("simulate", "--url", "http://127.0.0.1:9", "--count", "1", "--retries", "1")
    assert (
        bad_url.returncode == 1 and "error:" in bad_url.stderr and "Traceback" not in bad_url.stderr
    )


def test_port_in_use_is_one_clear_line(server: Server, tmp_path: Path) -> None:
    out = run_cli("serve", "--port", str(server.port), data_dir=tmp_path)
    assert out.returncode == 1
    assert f"did not start on 127.0.0.1:{server.port}" in out.stderr


def test_openapi_docs_served(server: Server) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert {"/v1/events", "/v1/metrics/summary", "/v1/metrics/timeseries", "/v1/errors/top",
            "/v1/requests", "/v1/requests/{event_id}", "/v1/rejected", "/v1/pricing/unpriced",
            "/health", "/metrics"} <= set(spec["paths"])  # fmt: skip
    assert httpx.get(f"{server.url}/docs").status_code == 200

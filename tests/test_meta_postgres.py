"""Projects, keys and leases in PostgreSQL: two nodes serving one ClickHouse store share
keys within the cache bound, and exactly one of them runs the singleton jobs; kill it and
the other takes them over once the lease expires."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN_KEY, Server, clickhouse_server, database_for, free_port, run_cli
from postgres import new_database, rows

CACHE_S = 1.0
LEASE_S = 3.0


def eventually(check: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def cli(meta: str, *args: str) -> str:
    done = run_cli(*args, "--meta", meta)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_keys_cli_and_server_on_each_backend(tmp_path: Path, backend: str) -> None:
    meta = new_database() if backend == "postgresql" else str(tmp_path / "meta.sqlite3")
    cli(meta, "projects", "create", "shop")
    again = run_cli("projects", "create", "shop", "--meta", meta)
    assert again.returncode == 1 and "already exists" in again.stderr
    out = cli(meta, "keys", "create", "--project", "shop", "--scope", "ingest,read")
    key_id = out.split("key id: ")[1].split()[0]
    key = next(line for line in out.splitlines() if line.startswith("lp_"))
    if backend == "postgresql":  # stored hashed
        stored = rows(meta, "SELECT key_hash, scopes FROM api_keys")
        assert len(stored) == 1 and key not in str(stored) and stored[0][1] == "ingest,read"
    server = Server(tmp_path / "data").start(LLMPULSE_META=meta, LLMPULSE_KEY_CACHE_S="0")
    try:
        with server.client(key) as http:
            assert (
                http.post("/v1/events", json={"model_id": "m", "latency_ms": 1}).status_code == 202
            )
            cli(meta, "keys", "revoke", key_id)
            r = http.post("/v1/events", json={"model_id": "m", "latency_ms": 1})
            assert r.status_code == 401 and "revoked" in r.json()["error"]
        assert "revoked" in cli(meta, "keys", "list")
    finally:
        server.stop()


def test_two_nodes_share_keys_and_one_runs_the_singleton_jobs(tmp_path: Path) -> None:
    meta = new_database()
    store = clickhouse_server().store_url(database_for(tmp_path))
    env = {"LLMPULSE_META": meta, "LLMPULSE_STORE": store,
           "LLMPULSE_KEY_CACHE_S": str(CACHE_S), "LLMPULSE_LEASE_S": str(LEASE_S)}  # fmt: skip
    nodes = [Server(tmp_path / f"node{i}").start(**env) for i in range(2)]
    try:
        cli(meta, "projects", "create", "shared")
        out = cli(meta, "keys", "create", "--project", "shared")
        key_id = out.split("key id: ")[1].split()[0]
        key = next(line for line in out.splitlines() if line.startswith("lp_"))

        def status(node: Server) -> int:
            return httpx.get(
                f"{node.url}/v1/metrics/summary", headers={"Authorization": f"Bearer {key}"}
            ).status_code

        # A key made elsewhere works on both nodes within the cache time (misses are cached too).
        for node in nodes:
            assert eventually(lambda n=node: status(n) == 200, CACHE_S + 5)
        # Both collectors load into the one store: each call once.
        for i, node in enumerate(nodes):
            with node.client(key) as http:
                batch = [{"model_id": f"m{i}", "latency_ms": j} for j in range(100)]
                assert http.post("/v1/events", json=batch).status_code == 202
            node.wait_loaded()
        with nodes[0].client(key) as http:
            summary = http.get("/v1/metrics/summary", params={"group_by": "model_id"}).json()
        assert sorted((g["key"]["model_id"], g["requests"]) for g in summary["groups"]) == [
            ("m0", 100),
            ("m1", 100),
        ]
        # A revocation elsewhere stops the key on both within the cache time.
        cli(meta, "keys", "revoke", key_id)
        for node in nodes:
            assert eventually(lambda n=node: status(n) == 401, CACHE_S + 5)

        # Exactly one node evaluates alerts.
        def holders() -> list[bool]:
            return [n.health()["leases"]["alerts"]["here"] for n in nodes if n.proc.poll() is None]

        assert eventually(lambda: sorted(holders()) == [False, True], LEASE_S * 2)
        holder = nodes[holders().index(True)]
        other = nodes[1 - nodes.index(holder)]
        assert rows(meta, "SELECT count(*) FROM leases WHERE name = 'alerts'") == [(1,)]
        holder.kill9()
        assert eventually(lambda: other.health()["leases"]["alerts"]["here"], LEASE_S * 3)
        assert other.health()["tasks"]["alerts"]["ok"]
    finally:
        for node in nodes:
            node.stop()


def test_unreachable_metadata_database_is_one_clear_startup_error(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    meta = f"postgresql://postgres@127.0.0.1:{port}/nope"
    done = run_cli("serve", "--port", str(free_port()), "--meta", meta, data_dir=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"cannot reach the metadata database postgresql://127.0.0.1:{port}/nope" in done.stderr
    listed = run_cli("keys", "list", "--meta", meta)
    assert listed.returncode == 1 and "cannot reach the metadata database" in listed.stderr
    assert ADMIN_KEY not in done.stderr

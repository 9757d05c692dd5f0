"""A 2-shard ClickHouse cluster answers the whole query API with a single node's numbers.

Two real ClickHouse servers (tests/ch_server.py) form the cluster `two`; `llmpulse serve
--store clickhouse://A/db?cluster=two` migrates each shard and queries Distributed tables.
The same calls (some sent twice), posts and logs go to a single-node server and to the
cluster server; every GET route of the OpenAPI document must then answer the same.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from clickhouse_servers import ClickHouseServer
from conftest import ADMIN_KEY, Server, free_port
from llmpulse.sim.sender import EventSender
from llmpulse.sim.social import PostGenerator
from llmpulse.sim.traffic import TrafficGenerator

N_CALLS = 3000
NODE_ROUTES = {"/v1/pipeline"}  # about the node answering, not the data
# Answers that say when they were computed or how long it took, or how late each server
# received the calls (its own clock on receipt), not what is stored.
VOLATILE = {"generated_at", "took_ms", "elapsed_ms", "ingest_lag_p50_s", "ingest_lag_p95_s"}


def traffic() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Calls over the last two hours, posts and log records: the same for both servers."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=2)
    gen = TrafficGenerator(seed=11, users=40, error_rate=0.1)
    step = (end - start) / N_CALLS
    calls = [gen.event(start + i * step) for i in range(N_CALLS)]
    posts = [PostGenerator(seed=3).event(start + timedelta(seconds=7 * i)) for i in range(400)]
    logs = [
        {"ts": (start + timedelta(seconds=13 * i)).isoformat(), "level": ("info", "error")[i % 2],
         "message": f"request {i} done", "service": f"svc{i % 3}"}
        for i in range(300)
    ]  # fmt: skip
    return calls, posts, logs


def send(server: Server, calls: list[Any], posts: list[Any], logs: list[Any]) -> None:
    sender = EventSender(server.url, ADMIN_KEY)
    for i in range(0, len(calls), 500):
        assert sender.send(calls[i : i + 500])["rejected"] == 0
    assert sender.send(calls[:700])["rejected"] == 0  # a retry: stored once
    with server.client() as client:
        assert client.post("/v1/social/posts", json=posts).status_code == 202
        assert client.post("/v1/logs", json=logs).status_code == 202
    server.wait_loaded()


def get_routes(server: Server) -> list[tuple[str, set[str]]]:
    """Every GET route of the API without a path parameter, with its query parameters."""
    spec = httpx.get(f"{server.url}/openapi.json").json()
    routes = []
    for path, operations in sorted(spec["paths"].items()):
        get = operations.get("get")
        if not path.startswith("/v1/") or "{" in path or get is None or path in NODE_ROUTES:
            continue
        if "application/json" not in get.get("responses", {}).get("200", {}).get("content", {}):
            continue  # streams and files
        routes.append((path, {p["name"] for p in get.get("parameters", [])}))
    return routes


def same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        volatile = set(VOLATILE)
        if a.get("name") == "clock_skew":  # calls received late: by each server's receipt time
            return
        if a.get("name") == "freshness":  # the newest call's age at each request's time
            assert abs(a["value"] - b["value"]) < 5, where
            volatile.add("value")
        for key in a.keys() - volatile:
            same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{where}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), f"{where}: {a} != {b}"
    elif not from_request_time(a, b):
        assert a == b, f"{where}: {a!r} != {b!r}"


def from_request_time(a: Any, b: Any) -> bool:
    """Two timestamps seconds apart: a default window's bounds, taken from each request's
    own time (the two requests are made moments apart)."""
    try:
        ta, tb = (datetime.fromisoformat(str(v).replace("Z", "+00:00")) for v in (a, b))
    except ValueError:
        return False
    return abs((ta - tb).total_seconds()) < 5


def test_cluster_answers_every_query_like_one_node(
    tmp_path: Path, cluster: list[ClickHouseServer]
) -> None:
    url = cluster[0].store_url("lp", "?cluster=two")
    single = Server(tmp_path / "single").start()
    clustered = Server(tmp_path / "clustered").start(LLMPULSE_STORE=url)
    try:
        calls, posts, logs = traffic()
        for server in (single, clustered):
            send(server, calls, posts, logs)
        # Both shards hold calls, each once.
        counts = [int(n.sql("SELECT count() FROM lp_local.llm_events")) for n in cluster]
        assert min(counts) > N_CALLS // 4 and sum(counts) == N_CALLS, counts
        end = datetime.now(UTC) + timedelta(minutes=1)
        window = {"from": (end - timedelta(hours=3)).isoformat(), "to": end.isoformat()}
        compared = 0
        with single.client() as one, clustered.client() as many:
            for path, names in get_routes(single):
                params = {k: v for k, v in window.items() if k in names}
                a, b = one.get(path, params=params), many.get(path, params=params)
                assert a.status_code == b.status_code, (path, a.text[:300], b.text[:300])
                if a.status_code == 200:
                    same(a.json(), b.json(), path)
                    compared += 1
            assert compared > 40
            # An erased user leaves both stores alike.
            user = calls[0]["user_id"]
            erased = [c.delete(f"/v1/users/{user}").json()["deleted"] for c in (one, many)]
            assert erased[0] == erased[1] and erased[0]["events"] > 0
            for path in ("/v1/metrics/summary", "/v1/requests"):
                a, b = one.get(path, params=window), many.get(path, params=window)
                assert a.status_code == b.status_code == 200, (path, a.text[:300])
                same(a.json(), b.json(), path)
    finally:
        single.stop()
        clustered.stop()


def test_unknown_cluster_is_one_clear_startup_error(
    tmp_path: Path, cluster: list[ClickHouseServer]
) -> None:
    url = cluster[0].store_url("lp_bad", "?cluster=nope")
    cmd = [sys.executable, "-m", "llmpulse", "serve", "--port", str(free_port()),
           "--data-dir", str(tmp_path / "d"), "--store", url]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and time.monotonic() - started < 60
    assert "no cluster 'nope'" in done.stderr and "two" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_shard_killed_mid_load_resumes_and_stores_each_event_once(
    tmp_path: Path, cluster: list[ClickHouseServer]
) -> None:
    url = cluster[0].store_url("lp_kill", "?cluster=two")
    server = Server(tmp_path / "node").start(LLMPULSE_STORE=url)
    sender = EventSender(server.url, ADMIN_KEY)
    try:
        calls, _, _ = traffic()
        assert sender.send(calls[:1000])["rejected"] == 0
        server.wait_loaded()
        cluster[1].kill9()  # the second shard: inserts that reach it fail
        assert sender.send(calls[1000:2000])["rejected"] == 0  # acknowledged from the spool
        deadline = time.monotonic() + 30
        while server.health()["status"] == "ok" and time.monotonic() < deadline:
            time.sleep(0.2)
        health = server.health()
        assert {"loader", "store"} == set(health["failing"])  # the store: a shard is away
        assert health["spool"]["pending_batches"] > 0
        cluster[1].start()  # same data dir: its tables are back
        server.wait_loaded(timeout=120)
        assert sender.send(calls[:500])["rejected"] == 0  # retries after the outage
        server.wait_loaded()
        with server.client() as http:
            summary = http.get("/v1/metrics/summary", params={"from": "-1d"}).json()
        assert summary["groups"][0]["requests"] == 2000
        counts = [int(n.sql("SELECT count() FROM lp_kill_local.llm_events")) for n in cluster]
        assert sum(counts) == 2000 and min(counts) > 0
    finally:
        server.stop()

"""A full disk, on real small filesystems (tmpfs, mounted by the test as root): requests are
refused (507 with Retry-After), never acknowledged and then lost; a loader that cannot
write keeps retrying, /health says so meanwhile, and everything acknowledged is stored."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, Server
from llmpulse.sim.traffic import TrafficGenerator
from test_durability import Senders, stored_ids, summary


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def grow(path: Path, size: str) -> None:
    """Space is freed: the filesystem gets bigger."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def batches(count: int, size: int, seed: int) -> list[list[dict[str, Any]]]:
    gen = TrafficGenerator(seed=seed)
    now = datetime.now(UTC)
    return [
        [gen.event(now - timedelta(seconds=i * size + j)) for j in range(size)]
        for i in range(count)
    ]


def test_full_spool_refuses_requests_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server(data)
    with tmpfs(data / "spool", "1m") as spool:
        try:
            server.start()
            senders = Senders(server, batches(60, 50, seed=31))
            senders.join()  # the spool fills on the way
            assert 507 in senders.statuses, "the spool never filled: the test tests nothing"
            assert senders.statuses <= {202, 507}, senders.statuses
            topped_up = Senders(server, batches(300, 1, seed=34))  # fill the last crumbs
            topped_up.join()
            assert 507 in topped_up.statuses
            before_full = len(senders.acknowledged)
            with server.client() as http:
                refused = http.post("/v1/events", json=batches(1, 50, seed=32)[0])
            assert refused.status_code == 507
            assert refused.headers["Retry-After"] == "5"
            assert "No space left on device" in refused.json()["error"]
            assert "acknowledged" in refused.json()["error"]
            # The loader still loads and checkpoints: it keeps room in the full spool.
            server.wait_loaded()
            health = httpx.get(f"{server.url}/health")
            assert health.status_code == 503
            assert health.json()["failing"] == ["spool"]
            assert "No space left" in server.health()["spool"]["last_write_error"]

            grow(spool, "32m")
            more = Senders(server, batches(30, 50, seed=33))
            more.join()
            assert more.statuses == {202}
            assert httpx.get(f"{server.url}/health").status_code == 200

            server.kill9()
            server.start()
            server.wait_loaded()
            acknowledged = {
                e["event_id"]
                for batch in senders.acknowledged + topped_up.acknowledged + more.acknowledged
                for e in batch
            }
            ids = stored_ids(server)
            assert len(acknowledged) == (before_full + 30) * 50 + len(topped_up.acknowledged)
            assert acknowledged <= set(ids), f"{len(acknowledged - set(ids))} acknowledged lost"
            assert len(ids) == len(set(ids)), "an event is stored twice"
        finally:
            server.stop()


@pytest.mark.chdb_only  # a ClickHouse server's outage: test_cluster.py
def test_loader_that_cannot_write_retries_and_health_says_so(tmp_path: Path) -> None:
    """The store's scratch space is full: the loader fails with ENOSPC, keeps the batch
    spooled, retries with backoff; /health is 503 naming the loader, with the error and
    the backlog for an admin; once there is space everything loads."""
    data = tmp_path / "data"
    server = Server(data)
    sent = batches(1, 1000, seed=41)[0]
    with tmpfs(data / "store" / "scratch", "64k") as scratch:
        try:
            server.start()
            with server.client() as http:
                assert http.post("/v1/events", json=sent).status_code == 202
            deadline = time.monotonic() + 30
            while httpx.get(f"{server.url}/health").status_code != 503:
                assert time.monotonic() < deadline, "the loader's failure never showed"
                time.sleep(0.1)
            assert httpx.get(f"{server.url}/health").json()["failing"] == ["loader"]
            details = server.health()
            assert details["status"] == "degraded"
            assert "No space left on device" in details["tasks"]["loader"]["last_error"]
            assert details["tasks"]["loader"]["consecutive_failures"] >= 1
            assert details["spool"]["pending_batches"] == 1
            # Still taking requests: the spool is on another filesystem.
            with server.client() as http:
                assert http.post("/v1/events", json=sent[:10]).status_code == 202

            grow(scratch, "64m")
            server.wait_loaded(timeout=90)
            assert httpx.get(f"{server.url}/health").json() == {
                "status": "ok",
                "version": details["version"],
            }
            assert summary(server, ADMIN_KEY)["groups"][0]["requests"] == 1000
            assert "Traceback" not in server.log.read_text().split("recovered after")[-1]
        finally:
            server.stop()

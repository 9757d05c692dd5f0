"""Scale-out through a bus: collectors spool and publish, loaders insert and then
acknowledge, a query node answers. Every acknowledged event is stored exactly once
through kill -9 of a loader, of a collector and of the broker; the nodes' counters balance
(the loss ledger) once the pipeline is idle. Each test runs on RabbitMQ and on Kafka (a
Tansu broker: tests/kafka.py).

The nodes share a database on the 2-shard ClickHouse cluster (a single ClickHouse server
for the broker's kill); the RabbitMQ broker is the machine's (a queue name of its own per
test) except for the broker's own kill, which gets a private node; each Kafka test has a
Tansu broker of its own.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from clickhouse_servers import ClickHouseServer
from conftest import Server, clickhouse_server, database_for, free_port, run_cli
from kafka import Tansu
from rabbitmq import SHARED, PrivateBroker, available, reachable
from s3 import s3_server

pytestmark = pytest.mark.skipif(not available(), reason="no RabbitMQ (see README)")


class Deployment:
    """Nodes of one deployment: a store (a ClickHouse server's, unless given), a bus, a
    queue of its own."""

    def __init__(self, root: Path, bus: str, store: str | None = None) -> None:
        self.root = root
        self.env = {
            "LLMPULSE_STORE": store or clickhouse_server().store_url(database_for(root)),
            "LLMPULSE_BUS": bus,
            "LLMPULSE_BUS_QUEUE": f"t{secrets.token_hex(4)}",
        }
        self.nodes: list[Server] = []

    def start(self, role: str, name: str) -> Server:
        node = Server(self.root / name).start(LLMPULSE_ROLE=role, **self.env)
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture(params=["rabbitmq", "kafka"])
def deployment(
    tmp_path: Path, request: pytest.FixtureRequest, cluster: list[ClickHouseServer]
) -> Iterator[Deployment]:
    """On the 2-shard ClickHouse cluster (conftest.cluster), a database of its own."""
    store = cluster[0].store_url(database_for(tmp_path), "?cluster=two")
    if request.param == "kafka":
        tansu = Tansu(tmp_path / "tansu").start()
        nodes = Deployment(tmp_path, tansu.url, store)
        yield nodes
        nodes.stop()
        tansu.stop()
        return
    if not reachable(SHARED):
        pytest.skip("the shared broker is down; the fault test below covers a private one")
    nodes = Deployment(tmp_path, SHARED, store)
    yield nodes
    nodes.stop()


def batch(prefix: str, n: int, size: int = 50) -> list[dict[str, Any]]:
    """Events with ids of their own, so the test knows each one."""
    return [{"event_id": f"{prefix}-{n}-{i}", "model_id": f"m{i % 3}", "latency_ms": i + 1,
             "tokens_in": 10, "tokens_out": i} for i in range(size)]  # fmt: skip


def post(node: Server, events: list[dict[str, Any]]) -> bool:
    """True if acknowledged; a dead node's refusal is the client's to retry."""
    try:
        with node.client() as http:
            return http.post("/v1/events", json=events).status_code == 202
    except httpx.TransportError:
        return False


def stored(query: Server) -> dict[str, int]:
    with query.client() as http:
        answer = http.get("/v1/metrics/summary", params={"group_by": "model_id", "from": "-1d"})
    assert answer.status_code == 200, answer.text
    return {g["key"]["model_id"]: g["requests"] for g in answer.json()["groups"]}


def expected(acknowledged: dict[str, dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in acknowledged.values():
        counts[event["model_id"]] = counts.get(event["model_id"], 0) + 1
    return counts


def settle(query: Server, want: dict[str, int], timeout: float = 90) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = stored(query)
        if got == want:
            return got
        time.sleep(0.5)
    return stored(query)


def test_roles_kill_a_loader_and_a_collector_store_each_event_once(
    deployment: Deployment,
) -> None:
    collectors = [deployment.start("collector", f"collector{i}") for i in range(2)]
    loaders = [deployment.start("loader", f"loader{i}") for i in range(2)]
    query = deployment.start("query", "query")
    # Each role serves its own routes.
    assert query.client().post("/v1/events", json=[]).status_code in (404, 405)
    assert collectors[0].client().get("/v1/metrics/summary").status_code == 404

    acknowledged: dict[str, dict[str, Any]] = {}
    stop = threading.Event()

    def send() -> None:
        """As a client does: a batch not acknowledged (its collector died, maybe after
        spooling it) is sent again, same ids, to the other collector until it is."""
        n = 0
        while not stop.is_set():
            events = batch("e", n)
            attempt = n
            while not post(collectors[attempt % 2], events):
                attempt += 1
                time.sleep(0.05)
            acknowledged.update((e["event_id"], e) for e in events)
            if n % 7 == 0:  # a retry of an acknowledged batch, through the other collector
                post(collectors[(n + 1) % 2], events)
            n += 1
            time.sleep(0.01)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        time.sleep(2)
        loaders[0].kill9()  # its unacknowledged batches go to the other loader
        time.sleep(2)
        collectors[1].kill9()  # its spool keeps what it acknowledged
        time.sleep(1)
        collectors[1].start(LLMPULSE_ROLE="collector", **deployment.env)
        loaders[0].start(LLMPULSE_ROLE="loader", **deployment.env)
        time.sleep(2)
    finally:
        stop.set()
        sender.join()
    assert len(acknowledged) > 1000
    assert settle(query, expected(acknowledged)) == expected(acknowledged)


def test_the_ledger_balances_when_idle(deployment: Deployment) -> None:
    collectors = [deployment.start("collector", f"c{i}") for i in range(2)]
    loader = deployment.start("loader", "l0")
    query = deployment.start("query", "q")
    sent: dict[str, dict[str, Any]] = {}
    for n in range(40):
        events = batch("l", n)
        assert post(collectors[n % 2], events)
        sent.update((e["event_id"], e) for e in events)
    assert post(collectors[0], batch("l", 0))  # a retry: acknowledged, stored once
    assert settle(query, expected(sent)) == expected(sent)

    def ledger() -> dict[str, float]:
        mine = [n.client().get("/v1/pipeline").json() for n in (*collectors, loader)]
        return {
            "acknowledged": sum(p["collector"]["accepted_items"] for p in mine),
            "published": sum(p["collector"]["published_items"] for p in mine),
            "spooled": sum(p["collector"]["spool_pending_batches"] for p in mine),
            "loaded": sum(p["loader"]["loaded_items"] for p in mine),
            "duplicates": sum(p["loader"]["duplicates_dropped"] for p in mine),
            "depth": mine[-1]["bus"]["depth_batches"],
        }

    deadline = time.monotonic() + 30
    while (now := ledger())["loaded"] < now["acknowledged"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert now == {"acknowledged": len(sent) + 50, "published": len(sent) + 50, "spooled": 0,
                   "loaded": len(sent) + 50, "duplicates": 50, "depth": 0}  # fmt: skip
    pipeline = loader.client().get("/v1/pipeline").json()
    assert pipeline["role"] == "loader" and pipeline["loader"]["inserts"] >= 1


@contextmanager
def private_broker(kind: str, data_dir: Path) -> Iterator[PrivateBroker | Tansu]:
    """A broker that can be killed: a RabbitMQ node, or Tansu storing in a local S3."""
    if kind == "rabbitmq":
        broker: PrivateBroker | Tansu = PrivateBroker(data_dir)
        try:
            yield broker.start()
        finally:
            broker.stop()
        return
    with s3_server("tansu") as endpoint:
        env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_ALLOW_HTTP": "true",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT": endpoint}  # fmt: skip
        broker = Tansu(data_dir, "s3://tansu/", env)
        try:
            yield broker.start()
        finally:
            broker.stop()


@pytest.mark.parametrize("kind", ["rabbitmq", "kafka"])
def test_a_broker_killed_mid_stream_loses_nothing(tmp_path: Path, kind: str) -> None:
    with private_broker(kind, tmp_path / "broker") as broker:
        killed_broker(tmp_path, broker)


def killed_broker(tmp_path: Path, broker: PrivateBroker | Tansu) -> None:
    cluster = Deployment(tmp_path, broker.url)
    try:
        collector = cluster.start("collector", "c")
        loader = cluster.start("loader", "l")
        query = cluster.start("query", "q")
        acknowledged: dict[str, dict[str, Any]] = {}
        for n in range(20):
            events = batch("b", n)
            assert post(collector, events)
            acknowledged.update((e["event_id"], e) for e in events)
        broker.kill9()
        # The bus is down: the collector still acknowledges, from its spool.
        for n in range(20, 40):
            events = batch("b", n)
            assert post(collector, events)
            acknowledged.update((e["event_id"], e) for e in events)
        down = collector.client().get("/v1/pipeline").json()["collector"]
        assert down["spool_pending_batches"] > 0
        time.sleep(2)  # an outage of some seconds
        broker.start()
        assert settle(query, expected(acknowledged), 120) == expected(acknowledged)
        up = collector.client().get("/v1/pipeline").json()["collector"]
        assert up["spooled_while_bus_down_batches"] > 0 and up["spool_pending_batches"] == 0
        assert loader.health()["status"] == "ok"
    finally:
        cluster.stop()


def test_bad_bus_and_role_settings_are_clear_startup_errors(tmp_path: Path) -> None:
    no_bus = run_cli("serve", "--role", "loader", "--port", str(free_port()), data_dir=tmp_path)
    assert no_bus.returncode == 1 and "--role loader needs --bus" in no_bus.stderr
    port = free_port()
    down = run_cli("serve", "--role", "collector", "--bus", f"amqp://guest:guest@127.0.0.1:{port}/",
                   "--port", str(free_port()), data_dir=tmp_path / "d")  # fmt: skip
    assert down.returncode == 1 and f"cannot connect to RabbitMQ at amqp://127.0.0.1:{port}/" in (
        down.stderr
    )
    assert "Traceback" not in down.stderr and "guest:guest" not in down.stderr
    wrong = run_cli("serve", "--role", "shard", "--port", str(free_port()), data_dir=tmp_path)
    assert wrong.returncode == 1 and "role" in wrong.stderr

"""`llmpulse social consume` against the RabbitMQ broker this machine runs (5672): posts
published with confirms (aio-pika, here in the test) reach the store exactly once through
a consumer killed with -9 mid-stream and restarted; poison messages are dead-lettered
with their reason while the rest flows; --classify-with labels posts through an
OpenAI-compatible server and the calls are LLM events."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aio_pika
import numpy as np
import orjson
import pytest
from pamqp.commands import Basic
from test_social import documented_vader

import rabbitmq
from conftest import Server, new_project_key
from fake_llm import FakeLLM

pytestmark = pytest.mark.skipif(
    not rabbitmq.available(), reason="needs RabbitMQ: on 5672, or Debian's rabbitmq-server"
)
AMQP = ""  # the broker's URL, set by the `amqp` fixture


@pytest.fixture(scope="module", autouse=True)
def amqp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    global AMQP
    with rabbitmq.broker(tmp_path_factory.mktemp("rabbitmq")) as url:
        AMQP = url
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("social-amqp") / "data", "--no-alerts").start()
    yield srv
    srv.stop()


def publish(queue: str, bodies: list[bytes]) -> None:
    """Publish with confirms: every body is on the broker when this returns."""

    async def run() -> None:
        connection = await aio_pika.connect(AMQP)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await channel.declare_queue(queue, durable=True)
            for start in range(0, len(bodies), 500):
                confirms = [
                    channel.default_exchange.publish(
                        aio_pika.Message(b, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue,
                    )
                    for b in bodies[start : start + 500]
                ]
                for result in await asyncio.gather(*confirms):
                    assert isinstance(result, Basic.Ack)

    asyncio.run(run())


def drain(queue: str) -> list[tuple[bytes, dict[str, Any]]]:
    """Every message left in `queue` (body and headers), removed."""

    async def run() -> list[tuple[bytes, dict[str, Any]]]:
        connection = await aio_pika.connect(AMQP)
        async with connection:
            channel = await connection.channel()
            q = await channel.declare_queue(queue, durable=True)
            found = []
            while (message := await q.get(fail=False, no_ack=True)) is not None:
                found.append((message.body, dict(message.headers)))
            return found

    return asyncio.run(run())


def delete(*queues: str) -> None:
    async def run() -> None:
        connection = await aio_pika.connect(AMQP)
        async with connection:
            channel = await connection.channel()
            for name in queues:
                await channel.queue_delete(name)
            await channel.exchange_delete(f"{queues[0]}.dead")

    asyncio.run(run())


def consumer(server: Server, key: str, queue: str, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "llmpulse", "social", "consume", "--amqp", AMQP,
           "--queue", queue, "--url", server.url, "--api-key", key, *extra]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def summary(server: Server, key: str) -> dict[str, Any]:
    with server.client(key) as http:
        return dict(http.get("/v1/social/summary", params={"from": "-2h"}).json())


def posts(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = time.time()
    words = ("moon", "dump", "NVIDIA", "$NVDA", "great", "bad", "today", "🚀", "chips")
    return [
        {
            "id": f"{seed}-{i}",
            "text": " ".join(rng.choices(words, k=6)),
            "ts": now - rng.uniform(1, 3600),
            "author": {"id": f"a{rng.randint(1, 99)}"},
            "likes": rng.randint(0, 100),
            "reposts": rng.randint(0, 9),
        }
        for i in range(n)
    ]


def test_consumer_killed_mid_stream_stores_every_post_once(server: Server) -> None:
    key = new_project_key(server)
    queue = f"posts-{uuid.uuid4().hex[:8]}"
    sent = posts(6000, seed=1)
    publish(queue, [orjson.dumps(p) for p in sent])
    first = consumer(server, key, queue, "--batch-size", "100")
    try:
        deadline = time.monotonic() + 60
        while summary(server, key)["posts"] < 1500 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.kill()  # kill -9, mid-stream: batches sent but not acked are redelivered
        first.wait(10)
        stored_at_kill = summary(server, key)["posts"]
        assert 0 < stored_at_kill < len(sent)
        second = consumer(server, key, queue, "--exit-when-idle", "2")
        out, _ = second.communicate(timeout=120)
        assert second.returncode == 0, out.decode()
        server.wait_loaded()
        got = summary(server, key)
        assert got["posts"] == len(sent)
        likes = np.array([p["likes"] + 2 * p["reposts"] for p in sent])
        assert got["engagement"] == likes.sum()  # no post counted twice
        assert drain(queue) == [] and drain(f"{queue}.dead") == []
    finally:
        first.kill()
        delete(queue, f"{queue}.dead")


def test_poison_messages_are_dead_lettered_with_the_reason(server: Server) -> None:
    key = new_project_key(server)
    queue = f"posts-{uuid.uuid4().hex[:8]}"
    good = posts(300, seed=2)
    poison = {
        b"this is not json": "not JSON",
        orjson.dumps({"id": "no-text"}): "text: Field required",
        orjson.dumps({"id": "x", "text": "t", "likes": "many"}): "likes: Input should be a valid integer",
        b"[]": "an empty array",
        b"42": "a post object or an array",
    }  # fmt: skip
    bodies = [orjson.dumps(p) for p in good]
    for i, body in enumerate(poison):
        bodies.insert(50 * i + 7, body)
    bodies.append(orjson.dumps(good[:3]))  # an array of posts already sent: stored once
    publish(queue, bodies)
    try:
        run = consumer(server, key, queue, "--exit-when-idle", "2")
        out, _ = run.communicate(timeout=120)
        assert run.returncode == 0, out.decode()
        assert b"dead-lettered 5" in out
        server.wait_loaded()
        assert summary(server, key)["posts"] == len(good)
        dead = dict(drain(f"{queue}.dead"))
        assert set(dead) == set(poison)
        for body, expected in poison.items():
            assert expected in dead[body]["x-llmpulse-reason"], (body, dead[body])
        assert drain(queue) == []
    finally:
        delete(queue, f"{queue}.dead")


def test_classify_with_an_llm_reports_agreement(server: Server, fake: FakeLLM) -> None:
    key = new_project_key(server)
    queue = f"posts-{uuid.uuid4().hex[:8]}"
    sent = posts(60, seed=3)
    publish(queue, [orjson.dumps(p) for p in sent])
    try:
        run = consumer(server, key, queue, "--exit-when-idle", "2", "--classify-with",
                       "fake-classify", "--llm-base-url", f"{fake.url}/v1")  # fmt: skip
        out, _ = run.communicate(timeout=120)
        assert run.returncode == 0, out.decode()
        assert b"classified 60" in out, out.decode()
        server.wait_loaded()
        vader = documented_vader()

        def label(text: str) -> tuple[str, str]:
            llm = "positive" if "moon" in text else "negative" if "dump" in text else "neutral"
            score = vader.polarity_scores(text)["compound"]
            mood = "positive" if score >= 0.05 else "negative" if score <= -0.05 else "neutral"
            return llm, mood

        pairs = [label(p["text"]) for p in sent]
        with server.client(key) as http:
            got = http.get("/v1/social/classification", params={"from": "-2h"}).json()
            assert got["classified"] == 60
            assert got["agreed"] == sum(a == b for a, b in pairs)
            assert got["agreement_rate"] == pytest.approx(got["agreed"] / 60)
            # The classifications are LLM calls of the project.
            calls = http.get("/v1/metrics/summary", params={"from": "-1h", "group_by": "feature"})
            groups = {g["key"]["feature"]: g["requests"] for g in calls.json()["groups"]}
            assert groups.get("social-classify") == 60, groups
    finally:
        delete(queue, f"{queue}.dead")


def test_unreachable_broker_and_wrong_key_are_clear_errors(server: Server) -> None:
    run = consumer(server, "whatever", "q", "--amqp", "amqp://guest:guest@127.0.0.1:1/")
    out, _ = run.communicate(timeout=60)
    assert run.returncode == 1 and b"cannot connect to RabbitMQ at amqp://127.0.0.1:1/" in out
    assert b"Traceback" not in out
    queue = f"posts-{uuid.uuid4().hex[:8]}"
    publish(queue, [orjson.dumps(posts(1, seed=4)[0])])
    try:
        run = consumer(server, "lp_wrong_key", queue)
        out, _ = run.communicate(timeout=60)
        assert run.returncode == 1 and b"HTTP 401" in out and b"Traceback" not in out
        assert len(drain(queue)) == 1  # not acked: still there for a consumer with a key
    finally:
        delete(queue, f"{queue}.dead")


def test_server_killed_mid_stream_loses_nothing(server: Server) -> None:
    """The server dies (-9) while the consumer sends: batches it had not answered stay
    unacked and are sent again once it is back; every post is stored once."""
    key = new_project_key(server)
    queue = f"posts-{uuid.uuid4().hex[:8]}"
    sent = posts(4000, seed=5)
    publish(queue, [orjson.dumps(p) for p in sent])
    run = consumer(server, key, queue, "--batch-size", "100", "--exit-when-idle", "3")
    try:
        deadline = time.monotonic() + 60
        while summary(server, key)["posts"] < 1000 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill9()
        time.sleep(1)  # the consumer meets a dead server and retries
        server.start()
        out, _ = run.communicate(timeout=180)
        assert run.returncode == 0, out.decode()
        assert b"retries 0" not in out  # it did meet the dead server
        server.wait_loaded()
        got = summary(server, key)
        assert got["posts"] == len(sent)
        assert got["engagement"] == sum(p["likes"] + 2 * p["reposts"] for p in sent)
        assert drain(queue) == []
    finally:
        run.kill()
        delete(queue, f"{queue}.dead")

"""A RabbitMQ broker for the tests: the one this machine runs on 5672 when it is up, else a
private node of Debian's rabbitmq-server on free ports with its own data dir (see
../shared/recipes/rabbitmq.md), stopped at the end."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aio_pika

from conftest import free_port

SHARED = "amqp://guest:guest@127.0.0.1:5672/"
SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def reachable(url: str) -> bool:
    async def probe() -> None:
        connection = await aio_pika.connect(url, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
        return True
    except Exception:
        return False


def available() -> bool:
    return reachable(SHARED) or SERVER.exists()


class PrivateBroker:
    """A RabbitMQ node of its own (ports, data dir, epmd): killed and restarted at will,
    on the same port and data, so clients reconnect to it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.node: subprocess.Popen[bytes] | None = None
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        (data_dir / "enabled_plugins").write_text("[].\n")
        self.env = dict(
            os.environ,
            HOME=str(data_dir),
            ERL_EPMD_PORT=str(free_port()),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_NODENAME=f"rmq{self.port}@localhost",
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(free_port()),
            RABBITMQ_MNESIA_BASE=str(data_dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(data_dir / "log"),
            RABBITMQ_PID_FILE=str(data_dir / "beam.pid"),
            RABBITMQ_CONFIG_FILE=str(data_dir / "rabbitmq"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(data_dir / "enabled_plugins"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )

    def start(self) -> PrivateBroker:
        with open(self.data_dir / "stdout.log", "ab") as log:
            self.node = subprocess.Popen([str(SERVER)], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 90
        while not reachable(self.url):
            if self.node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.data_dir / "stdout.log").read_text()[-2000:])
            time.sleep(0.5)
        return self

    def kill9(self) -> None:
        if self.node and self.node.poll() is None:
            os.killpg(self.node.pid, 9)
            self.node.wait(30)

    def stop(self) -> None:
        self.kill9()
        epmd = shutil.which("epmd")
        if epmd:  # the node's private epmd outlives it
            subprocess.run([epmd, "-kill"], env=self.env, capture_output=True)


@contextmanager
def broker(data_dir: Path) -> Iterator[str]:
    """An AMQP URL: the shared broker's, or a private node's while the block runs."""
    if reachable(SHARED):
        yield SHARED
        return
    node = PrivateBroker(data_dir).start()
    try:
        yield node.url
    finally:
        node.stop()

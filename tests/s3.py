"""A local S3 server (moto) with one bucket, for lakes and Tansu's durable storage."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from conftest import free_port


@contextmanager
def s3_server(bucket: str) -> Iterator[str]:
    """The endpoint URL of a moto server holding an empty `bucket`."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        httpx.put(f"{url}/{bucket}").raise_for_status()
        yield url
    finally:
        proc.terminate()
        proc.wait(10)

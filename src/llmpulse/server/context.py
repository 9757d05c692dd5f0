"""What the routes share: the store, the ingest pipeline and the key store."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from llmpulse.ingest.service import IngestService
from llmpulse.server.keys import KeyStore
from llmpulse.server.settings import Settings
from llmpulse.store.engine import Engine

NO_AUTH_PROJECT = "default"


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    ingest: IngestService
    keys: KeyStore


async def platform(request: Request) -> Platform:
    """Async: a plain attribute read, not worth a thread-pool hop."""
    found: Platform = request.app.state.platform
    return found

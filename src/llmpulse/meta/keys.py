"""Projects and API keys: a small SQLite file beside the data (safe for several processes),
or PostgreSQL when several nodes serve one store (`--meta postgresql://...`).

It is control-plane state, not telemetry: the CLI must be able to create and revoke keys
while `llmpulse serve` holds the (single-process) chDB store, so it does not live there.
Keys are stored as SHA-256 hashes; the key itself is shown once, when created.

A key carries scopes: `ingest` (send events), `read` (query API, pages) and `admin`
(keys, settings, and calls that reach paid LLM endpoints). A key embedded in an
application gets `ingest` alone, so a leaked key can neither read the data nor spend.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from llmpulse.meta.database import open_meta

PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
INGEST: Final = "ingest"
READ: Final = "read"
ADMIN: Final = "admin"
SCOPES: Final = (INGEST, READ, ADMIN)
DEFAULT_SCOPES: Final = frozenset((INGEST, READ))
ALL_SCOPES: Final = frozenset(SCOPES)

# Versions of the schema, applied in order (SQLite and PostgreSQL alike).
_MIGRATIONS = (
    """
    CREATE TABLE IF NOT EXISTS projects (
        name TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE IF NOT EXISTS api_keys (
        key_id TEXT PRIMARY KEY,
        project TEXT NOT NULL REFERENCES projects(name),
        key_hash TEXT NOT NULL UNIQUE,
        created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION
    );
    """,
    # Keys made before scopes existed keep every right they had.
    "ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'ingest,read,admin';",
    # Singleton jobs' leases (meta/leases.py).
    """
    CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL
    );
    """,
)


class KeyStoreError(ValueError):
    """A project or key operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    project: str
    created_at: float
    revoked_at: float | None
    scopes: frozenset[str]


@dataclass(frozen=True)
class Grant:
    """What a live key may do: its project and scopes (key_id None: provisioned in settings)."""

    project: str
    scopes: frozenset[str]
    key_id: str | None = None


def parse_scopes(text: str) -> frozenset[str]:
    """`ingest,read` (or `+`-joined) -> the scopes, each checked."""
    names = frozenset(s.strip() for s in text.replace("+", ",").split(",") if s.strip())
    unknown = names - ALL_SCOPES
    if unknown or not names:
        bad = ", ".join(sorted(unknown)) or "none given"
        raise KeyStoreError(f"unknown scope {bad}: use {', '.join(SCOPES)}")
    return names


def scopes_text(scopes: frozenset[str]) -> str:
    return ",".join(s for s in SCOPES if s in scopes)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_project_name(name: str) -> str:
    if not PROJECT_NAME.fullmatch(name):
        raise KeyStoreError(
            f"invalid project name {name!r}: use 1-64 letters, digits, '_', '.' or '-'"
        )
    return name


class KeyStore:
    """Projects and keys in the metadata database. A key's grant is cached for `cache_s`
    seconds (hits and misses alike): that bounds how long another node's new key waits to
    work here, and a revoked one keeps working; 0 reads the database on every request."""

    def __init__(
        self,
        location: str | Path,
        provisioned: dict[str, Grant] | None = None,
        cache_s: float = 0.0,
    ) -> None:
        """`location`: a SQLite file or postgresql:// URL. `provisioned` maps keys given in
        settings to their grant (never written)."""
        self.db = open_meta(location)
        self._provisioned = {hash_key(k): g for k, g in (provisioned or {}).items()}
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, Grant | None]] = {}
        self.db.migrate(_MIGRATIONS)

    def create_project(self, name: str) -> None:
        check_project_name(name)
        try:
            self.db.execute("INSERT INTO projects VALUES (?, ?)", (name, time.time()))
        except self.db.integrity_error as exc:
            raise KeyStoreError(f"project {name!r} already exists") from exc

    def ensure_project(self, name: str) -> None:
        check_project_name(name)
        self.db.execute(
            "INSERT INTO projects VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, time.time())
        )

    def projects(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM projects ORDER BY name").fetchall()]

    def create_key(self, project: str, scopes: frozenset[str] = DEFAULT_SCOPES) -> tuple[str, str]:
        """A new key for an existing project: (key_id, key). The key is not stored."""
        key_id = secrets.token_hex(4)
        key = f"lp_{key_id}_{secrets.token_urlsafe(24)}"
        with self.db.transaction() as db:
            if not db.execute("SELECT 1 FROM projects WHERE name = ?", (project,)).fetchone():
                raise KeyStoreError(
                    f"no project {project!r}: create it with `llmpulse projects create {project}`"
                )
            db.execute(
                "INSERT INTO api_keys (key_id, project, key_hash, created_at, scopes) "
                "VALUES (?, ?, ?, ?, ?)",
                (key_id, project, hash_key(key), time.time(), scopes_text(scopes)),
            )
        return key_id, key

    def list_keys(self) -> list[KeyInfo]:
        rows = self.db.execute(
            "SELECT key_id, project, created_at, revoked_at, scopes FROM api_keys "
            "ORDER BY created_at"
        ).fetchall()
        return [
            KeyInfo(key_id, project, created, revoked, frozenset(scopes.split(",")))
            for key_id, project, created, revoked, scopes in rows
        ]

    def revoke(self, key_id: str) -> None:
        cursor = self.db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (time.time(), key_id),
        )
        if cursor.rowcount == 0:
            known = self.db.execute("SELECT 1 FROM api_keys WHERE key_id = ?", (key_id,))
            raise KeyStoreError(
                f"key {key_id!r} is already revoked"
                if known.fetchone()
                else f"no key with id {key_id!r}"
            )
        self._cache.clear()  # this node sees its own revocation at once

    def grant_for(self, key: str) -> Grant | None:
        """What a live key may do, or None for an unknown or revoked key."""
        digest = hash_key(key)
        if digest in self._provisioned:
            return self._provisioned[digest]
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self._cache_s:
            return cached[1]
        row = self.db.execute(
            "SELECT project, scopes, key_id FROM api_keys "
            "WHERE key_hash = ? AND revoked_at IS NULL",
            (digest,),
        ).fetchone()
        grant = Grant(row[0], frozenset(row[1].split(",")), row[2]) if row else None
        if self._cache_s:
            if len(self._cache) > 100_000:  # a flood of made-up keys must not grow it forever
                self._cache.clear()
            self._cache[digest] = (now, grant)
        return grant

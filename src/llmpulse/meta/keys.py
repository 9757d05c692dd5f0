"""Projects and API keys: a small SQLite file beside the data, safe for several processes.

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
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
INGEST: Final = "ingest"
READ: Final = "read"
ADMIN: Final = "admin"
SCOPES: Final = (INGEST, READ, ADMIN)
DEFAULT_SCOPES: Final = frozenset((INGEST, READ))
ALL_SCOPES: Final = frozenset(SCOPES)

# Versions of the file's schema (PRAGMA user_version), applied in order.
_MIGRATIONS = (
    """
    CREATE TABLE IF NOT EXISTS projects (name TEXT PRIMARY KEY, created_at REAL NOT NULL);
    CREATE TABLE IF NOT EXISTS api_keys (
        key_id TEXT PRIMARY KEY,
        project TEXT NOT NULL REFERENCES projects(name),
        key_hash TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    """,
    # Keys made before scopes existed keep every right they had.
    "ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'ingest,read,admin';",
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
    def __init__(self, path: Path, provisioned: dict[str, Grant] | None = None) -> None:
        """`provisioned` maps keys given in settings to their grant (never written)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._provisioned = {hash_key(k): g for k, g in (provisioned or {}).items()}
        # One connection per thread, reused: a key is checked on every request.
        self._local = threading.local()
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            self._migrate(db)

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")  # two processes opening at once migrate once
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        yield db

    def create_project(self, name: str) -> None:
        check_project_name(name)
        with self._db() as db:
            try:
                db.execute("INSERT INTO projects VALUES (?, ?)", (name, time.time()))
            except sqlite3.IntegrityError as exc:
                raise KeyStoreError(f"project {name!r} already exists") from exc

    def ensure_project(self, name: str) -> None:
        check_project_name(name)
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO projects VALUES (?, ?)", (name, time.time()))

    def projects(self) -> list[str]:
        with self._db() as db:
            return [r[0] for r in db.execute("SELECT name FROM projects ORDER BY name")]

    def create_key(self, project: str, scopes: frozenset[str] = DEFAULT_SCOPES) -> tuple[str, str]:
        """A new key for an existing project: (key_id, key). The key is not stored."""
        key_id = secrets.token_hex(4)
        key = f"lp_{key_id}_{secrets.token_urlsafe(24)}"
        with self._db() as db:
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
        with self._db() as db:
            rows = db.execute(
                "SELECT key_id, project, created_at, revoked_at, scopes FROM api_keys "
                "ORDER BY created_at"
            ).fetchall()
        return [
            KeyInfo(key_id, project, created, revoked, frozenset(scopes.split(",")))
            for key_id, project, created, revoked, scopes in rows
        ]

    def revoke(self, key_id: str) -> None:
        with self._db() as db:
            cursor = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (time.time(), key_id),
            )
            if cursor.rowcount == 0:
                known = db.execute("SELECT 1 FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
                raise KeyStoreError(
                    f"key {key_id!r} is already revoked" if known else f"no key with id {key_id!r}"
                )

    def grant_for(self, key: str) -> Grant | None:
        """What a live key may do, or None for an unknown or revoked key. Read from the
        file on every call, so a revocation by another process counts at once."""
        digest = hash_key(key)
        if digest in self._provisioned:
            return self._provisioned[digest]
        with self._db() as db:
            row = db.execute(
                "SELECT project, scopes, key_id FROM api_keys "
                "WHERE key_hash = ? AND revoked_at IS NULL",
                (digest,),
            ).fetchone()
        return Grant(row[0], frozenset(row[1].split(",")), row[2]) if row else None

"""The control-plane database: a SQLite file (one machine, the default) or PostgreSQL (a
team of nodes, `--meta postgresql://...`). Both take the same SQL: `?` placeholders and
standard `INSERT ... ON CONFLICT`; migrations are numbered scripts applied once, under a
lock, by whichever process opens the database first."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

# PostgreSQL's advisory lock key for migrations: any constant the application owns.
_MIGRATION_LOCK = 0x4C4C4D50  # "LLMP"


class MetaError(RuntimeError):
    """The metadata database cannot be reached or used; the message says which and why."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class MetaDatabase(Protocol):
    url: str
    # An insert that broke a unique constraint raises this.
    integrity_error: type[Exception]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """One statement, committed at once; `?` placeholders."""

    @contextmanager
    def transaction(self) -> Iterator[MetaDatabase]:
        """Statements inside commit together or not at all."""
        yield self

    def migrate(self, scripts: Sequence[str]) -> None:
        """Apply the scripts not applied yet, in order, each in a transaction."""


def meta_location(data_dir: Path, meta: str | None) -> str:
    """The metadata database a process uses: `meta` if given, else the SQLite file
    beside the data."""
    return meta or str(data_dir.expanduser() / "keys.sqlite3")


def is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def open_meta(location: str | Path) -> MetaDatabase:
    """`postgresql://user@host:5432/db`, or a SQLite file's path."""
    text = str(location)
    if is_postgres(text):
        return PostgresMeta(text)
    return SqliteMeta(Path(text.removeprefix("sqlite://")).expanduser())


def _statements(script: str) -> list[str]:
    return [s for s in script.split(";") if s.strip()]


class SqliteMeta:
    """One connection per thread, reused (a key is checked on every request); WAL, so
    the CLI can change keys while a server reads them."""

    integrity_error: type[Exception] = sqlite3.IntegrityError

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.url = str(path)
        self._path = path
        self._local = threading.local()
        self._connection().execute("PRAGMA journal_mode=WAL")

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self._path, timeout=10, isolation_level=None)
            except sqlite3.Error as exc:
                raise MetaError(f"cannot open the metadata file {self._path}: {exc}") from exc
            self._local.db = db
        return db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._connection().execute(sql, tuple(params))

    @contextmanager
    def transaction(self) -> Iterator[MetaDatabase]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def migrate(self, scripts: Sequence[str]) -> None:
        with self.transaction():  # two processes opening at once migrate once
            version = self.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(scripts[version:], start=version + 1):
                for statement in _statements(script):
                    self.execute(statement)
                self.execute(f"PRAGMA user_version = {number}")


class PostgresMeta:
    """psycopg 3, one autocommit connection per thread, reopened once if the server
    dropped it (a restart, a failover)."""

    def __init__(self, url: str) -> None:
        import psycopg

        parts = urlsplit(url)  # shown without its user and password
        self.url = parts._replace(netloc=f"{parts.hostname}:{parts.port or 5432}").geturl()
        self._dsn = url
        self._local = threading.local()
        self.integrity_error: type[Exception] = psycopg.errors.UniqueViolation
        self._connection()  # fail at startup, not at the first request

    def _connection(self, fresh: bool = False) -> Any:
        import psycopg

        db = getattr(self._local, "db", None)
        if db is None or fresh or db.closed:
            if db is not None:
                db.close()
            try:
                db = psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                reason = " ".join(line.strip() for line in str(exc).splitlines())
                raise MetaError(f"cannot reach the metadata database {self.url}: {reason}") from exc
            self._local.db = db
        return db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        import psycopg

        sql = sql.replace("?", "%s")
        try:
            return self._connection().execute(sql, tuple(params))  # type: ignore[no-any-return]
        except psycopg.OperationalError:
            if getattr(self._local, "in_transaction", False):
                raise  # the transaction is lost: the caller's to retry
            return self._connection(fresh=True).execute(sql, tuple(params))  # type: ignore[no-any-return]

    @contextmanager
    def transaction(self) -> Iterator[MetaDatabase]:
        self._local.in_transaction = True
        try:
            with self._connection().transaction():
                yield self
        finally:
            self._local.in_transaction = False

    def migrate(self, scripts: Sequence[str]) -> None:
        with self.transaction():
            self.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            self.execute("CREATE TABLE IF NOT EXISTS meta_schema (version INTEGER NOT NULL)")
            row = self.execute("SELECT max(version) FROM meta_schema").fetchone()
            version = row[0] or 0
            for number, script in enumerate(scripts[version:], start=version + 1):
                for statement in _statements(script):
                    self.execute(statement)
                self.execute("INSERT INTO meta_schema VALUES (?)", (number,))

"""A database of its own on the PostgreSQL this machine runs (127.0.0.1:5432, trust)."""

from __future__ import annotations

import atexit
import secrets

import psycopg

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def new_database() -> str:
    """A new empty database; its URL."""
    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    atexit.register(_drop, name)  # the machine's server outlives the tests
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def _drop(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as db:
        return db.execute(sql).fetchall()

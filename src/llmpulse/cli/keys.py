"""`llmpulse projects ...` and `llmpulse keys ...`: manage projects and API keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from llmpulse.cli.common import DEFAULT_DATA_DIR, DataDir, MetaUrl, console, fail
from llmpulse.meta.database import MetaError, meta_location
from llmpulse.meta.keys import (
    DEFAULT_SCOPES,
    KeyStore,
    KeyStoreError,
    parse_scopes,
    scopes_text,
)

projects_app = typer.Typer(help="Create and list projects. Every event and key belongs to one.")
keys_app = typer.Typer(help="Create, list and revoke API keys (stored hashed).")


def _store(data_dir: Path, meta: str | None) -> KeyStore:
    try:
        return KeyStore(meta_location(data_dir, meta))
    except MetaError as exc:
        raise fail(str(exc)) from None


@projects_app.command("create")
def create_project(name: str, data_dir: DataDir = DEFAULT_DATA_DIR, meta: MetaUrl = None) -> None:
    """Create a project NAME."""
    try:
        _store(data_dir, meta).create_project(name)
    except KeyStoreError as exc:
        raise fail(str(exc)) from None
    console.print(f"created project [bold]{name}[/]; now: llmpulse keys create --project {name}")


@projects_app.command("list")
def list_projects(data_dir: DataDir = DEFAULT_DATA_DIR, meta: MetaUrl = None) -> None:
    """List projects."""
    for name in _store(data_dir, meta).projects():
        console.print(name)


@keys_app.command("create")
def create_key(
    project: str = typer.Option(
        ..., "--project", "-p", help="The project the key writes to and reads."
    ),
    scope: list[str] | None = typer.Option(
        None,
        "--scope",
        "-s",
        help="What the key may do: ingest (send events), read (query API, dashboard), admin "
        "(keys, settings, playground calls that spend on LLM endpoints). Repeat or "
        "comma-separate; default: ingest,read. Give an application's SDK or proxy "
        "`--scope ingest` alone.",
    ),
    data_dir: DataDir = DEFAULT_DATA_DIR,
    meta: MetaUrl = None,
) -> None:
    """Create an API key for a project. The key is shown once; only its hash is stored."""
    try:
        scopes = parse_scopes(",".join(scope)) if scope else DEFAULT_SCOPES
        key_id, key = _store(data_dir, meta).create_key(project, scopes)
    except KeyStoreError as exc:
        raise fail(str(exc)) from None
    default = "" if scope else " (the default; --scope ingest for an application's key)"
    console.print(f"key id: {key_id}  (project {project}, scopes {scopes_text(scopes)}{default})")
    console.print(key, highlight=False, soft_wrap=True)


@keys_app.command("list")
def list_keys(data_dir: DataDir = DEFAULT_DATA_DIR, meta: MetaUrl = None) -> None:
    """List keys with their project and state (never the keys themselves)."""
    table = Table("key id", "project", "scopes", "created", "state")
    for info in _store(data_dir, meta).list_keys():
        created = datetime.fromtimestamp(info.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        state = "revoked" if info.revoked_at else "active"
        table.add_row(info.key_id, info.project, scopes_text(info.scopes), created, state)
    console.print(table)


@keys_app.command("revoke")
def revoke_key(key_id: str, data_dir: DataDir = DEFAULT_DATA_DIR, meta: MetaUrl = None) -> None:
    """Revoke a key by its id; a running server refuses it (401) from its next request."""
    try:
        _store(data_dir, meta).revoke(key_id)
    except KeyStoreError as exc:
        raise fail(str(exc)) from None
    console.print(f"revoked key {key_id}")

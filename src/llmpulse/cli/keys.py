"""`llmpulse projects ...` and `llmpulse keys ...`: manage projects and API keys."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from llmpulse.cli.common import DEFAULT_DATA_DIR, DataDir, console, fail
from llmpulse.server.keys import KeyStore, KeyStoreError

projects_app = typer.Typer(help="Create and list projects. Every event and key belongs to one.")
keys_app = typer.Typer(help="Create, list and revoke API keys (stored hashed).")


def _store(data_dir: DataDir) -> KeyStore:
    return KeyStore(data_dir.expanduser() / "keys.sqlite3")


@projects_app.command("create")
def create_project(name: str, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Create a project NAME."""
    try:
        _store(data_dir).create_project(name)
    except KeyStoreError as exc:
        raise fail(str(exc)) from None
    console.print(f"created project [bold]{name}[/]; now: llmpulse keys create --project {name}")


@projects_app.command("list")
def list_projects(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """List projects."""
    for name in _store(data_dir).projects():
        console.print(name)


@keys_app.command("create")
def create_key(
    project: str = typer.Option(
        ..., "--project", "-p", help="The project the key writes to and reads."
    ),
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Create an API key for a project. The key is shown once; only its hash is stored."""
    try:
        key_id, key = _store(data_dir).create_key(project)
    except KeyStoreError as exc:
        raise fail(str(exc)) from None
    console.print(f"key id: {key_id}  (project {project})")
    console.print(key, highlight=False, soft_wrap=True)


@keys_app.command("list")
def list_keys(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """List keys with their project and state (never the keys themselves)."""
    table = Table("key id", "project", "created", "state")
    for info in _store(data_dir).list_keys():
        created = datetime.fromtimestamp(info.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        state = "revoked" if info.revoked_at else "active"
        table.add_row(info.key_id, info.project, created, state)
    console.print(table)


@keys_app.command("revoke")
def revoke_key(key_id: str, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Revoke a key by its id; requests with it get 401 from then on."""
    try:
        _store(data_dir).revoke(key_id)
    except KeyStoreError as exc:
        raise fail(str(exc)) from None
    console.print(f"revoked key {key_id}")

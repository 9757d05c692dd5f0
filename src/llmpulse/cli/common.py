"""Shared CLI pieces: option types, duration parsing, one-line errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="LLMPULSE_DATA_DIR",
        help="Where the store, spool and keys live.",
        show_default=True,
    ),
]
DEFAULT_DATA_DIR = Path("~/.llmpulse")
StoreUrl = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="LLMPULSE_STORE",
        help="chdb://PATH (default: DATA_DIR/store) or clickhouse://user:pass@host:8123/db.",
    ),
]

MetaUrl = Annotated[
    str | None,
    typer.Option(
        "--meta",
        envvar="LLMPULSE_META",
        help="Projects and keys: postgresql://user@host:5432/db when several nodes serve "
        "one store (default: DATA_DIR/keys.sqlite3).",
    ),
]


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(text: str, option: str) -> float:
    """`90`, `60s`, `10m`, `2h`, `7d` -> seconds."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration like 60s, 10m, 2h", param_hint=option)
    return float(match[1]) * _SECONDS[match[2]]


def fail(message: str) -> typer.Exit:
    """Print one clear line and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(1)


def print_rejections(errors: list[dict[str, Any]], limit: int = 5) -> None:
    """The first items the server refused, with the field and why, one line each."""
    for error in errors[:limit]:
        console.print(f"  rejected #{error['index']}: {error['field']}: {error['error']}")

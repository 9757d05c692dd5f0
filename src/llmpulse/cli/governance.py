"""`llmpulse projects set-retention` and `llmpulse users erase`, on a running server."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from llmpulse.cli.common import console
from llmpulse.cli.remote import DEFAULT_URL, Key, Url, call

users_app = typer.Typer(help="Erase a user's data.", no_args_is_help=True)
Days = Annotated[str | None, typer.Option(help="Days kept, like 30d (default: the server's).")]


def set_retention(
    project: Annotated[str, typer.Argument(help="The project (the key's own).")],
    raw: Days = None,
    rollups: Days = None,
    rejected: Days = None,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Keep PROJECT's calls (raw), hourly rollups and dead letters (rejected) so long; the
    store drops older rows, those already stored included."""
    body = {k: v for k, v in (("raw", raw), ("rollups", rollups), ("rejected", rejected)) if v}
    answer = call(url, api_key, "PUT", f"/v1/projects/{project}/retention", body)
    table = Table("data", "kept", "set by", title=f"retention of {project}")
    for kind in ("raw", "rollups", "rejected"):
        table.add_row(kind, f"{answer[kind]['days']} days", answer[kind]["source"])
    console.print(table)


@users_app.command("erase")
def erase(
    user_id: Annotated[str, typer.Argument(help="The user_id the calls carry.")],
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Delete USER_ID's calls, spans and scores from the key's project; print the receipt."""
    receipt = call(url, api_key, "DELETE", f"/v1/users/{user_id}")
    deleted = receipt["deleted"]
    console.print(
        f"erased {user_id} at {receipt['erased_at']} (receipt {receipt['id']}): "
        + ", ".join(f"{n:,} {what.replace('_', ' ')}" for what, n in deleted.items())
    )

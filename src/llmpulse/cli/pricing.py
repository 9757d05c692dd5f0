"""`llmpulse pricing`: a project's own prices for models, and re-costing stored calls at
them, on a running server (the store belongs to the server while it runs)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmpulse.cli.common import console, fail
from llmpulse.cli.remote import DEFAULT_URL, Key, Url, call

pricing_app = typer.Typer(
    help="Dated price overrides and re-costing of stored calls.", no_args_is_help=True
)
PerMillion = Annotated[float, typer.Option(help="USD per million tokens.", min=0)]
Wait = Annotated[bool, typer.Option(help="Follow the re-costing until it is done.")]


@pricing_app.command("set")
def set_price(
    model: Annotated[str, typer.Argument(help="A model_id, or a glob such as 'gpt-4o*'.")],
    input: PerMillion,
    output: PerMillion,
    cached: Annotated[
        float | None,
        typer.Option(help="USD per million cached input tokens (default: the input price).", min=0),
    ] = None,
    reasoning: Annotated[
        float | None,
        typer.Option(help="USD per million reasoning tokens (default: the output price).", min=0),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", help="ISO 8601 date or time it applies from (default: always)."),
    ] = None,
    wait: Wait = True,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Price MODEL from a date on; the project's stored calls from then on are re-costed."""
    body: dict[str, Any] = {"model": model, "input": input, "output": output}
    body |= {k: v for k, v in (("cached", cached), ("reasoning", reasoning)) if v is not None}
    if start:
        body["from"] = start
    answer = call(url, api_key, "PUT", "/v1/pricing/overrides", body)
    for warning in answer["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")
    o = answer["override"]
    console.print(
        f"{o['model']}: input ${o['input']:g}, output ${o['output']:g}, cached "
        f"${o['cached']:g}, reasoning ${o['reasoning']:g} per million tokens, "
        f"from {o['from'] or 'the start'} (id {o['id']})"
    )
    _follow(url, api_key, answer["recost"], wait)


@pricing_app.command("list")
def list_prices(url: Url = DEFAULT_URL, api_key: Key = None) -> None:
    """The project's price overrides."""
    table = Table("id", "model", "from", "input", "output", "cached", "reasoning")
    for o in call(url, api_key, "GET", "/v1/pricing/overrides")["overrides"]:
        rates = [f"{o[k]:g}" for k in ("input", "output", "cached", "reasoning")]
        table.add_row(o["id"], o["model"], o["from"] or "always", *rates)
    console.print(table)


@pricing_app.command("unset")
def unset_price(
    override_id: Annotated[str, typer.Argument(help="The id `pricing list` shows.")],
    wait: Wait = True,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Remove a price override; its calls are re-costed at the remaining prices."""
    answer = call(url, api_key, "DELETE", f"/v1/pricing/overrides/{override_id}")
    console.print(f"removed {answer['deleted']}")
    _follow(url, api_key, answer["recost"], wait)


@pricing_app.command("recost")
def recost(
    start: Annotated[str, typer.Option("--from", help="ISO 8601 date or time.")],
    end: Annotated[str | None, typer.Option("--to", help="ISO 8601 (default: no end).")] = None,
    wait: Wait = True,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Re-cost the project's stored calls in a range at today's prices for their times.

    Rollups follow; running it twice changes nothing more; ingest goes on meanwhile."""
    body = {"from": start} | ({"to": end} if end else {})
    _follow(url, api_key, call(url, api_key, "POST", "/v1/pricing/recost", body), wait)


def _follow(url: str, key: str | None, job: dict[str, Any], wait: bool) -> None:
    if wait:
        columns = (TextColumn("re-costing"), BarColumn(), TextColumn("{task.description}"))
        with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(job["state"], total=1.0)
            while job["state"] in ("queued", "running"):
                time.sleep(0.5)
                job = call(url, key, "GET", f"/v1/pricing/recost/{job['id']}")
                bar.update(task, completed=job["progress"],
                           description=f"{job['state']}, {job['changed']:,} calls")  # fmt: skip
    if job["state"] == "failed":
        raise fail(f"re-costing {job['id']} failed: {job['error']}")
    if job["state"] != "done":
        console.print(f"re-costing {job['id']} is {job['state']}; "
                      f"GET /v1/pricing/recost/{job['id']} shows its progress")  # fmt: skip
        return
    delta, changed = job["cost_after"] - job["cost_before"], job["changed"]
    console.print(
        f"re-costed {changed:,} call{'' if changed == 1 else 's'}: "
        f"${job['cost_before']:,.4f} -> ${job['cost_after']:,.4f} ({delta:+,.4f})"
    )

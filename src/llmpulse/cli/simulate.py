"""`llmpulse simulate`: realistic LLM traffic sent to a running server."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from llmpulse.bus.amqp import BusError
from llmpulse.cli.common import console, fail, parse_duration, print_rejections
from llmpulse.sim.amqp_sender import AmqpSender
from llmpulse.sim.run import run_simulation
from llmpulse.sim.sender import EventSender, SendError
from llmpulse.sim.social import PostGenerator
from llmpulse.sim.traffic import TrafficGenerator


def simulate(
    url: Annotated[
        str, typer.Option(help="The LLMPulse server, e.g. http://127.0.0.1:8000.")
    ] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None, typer.Option(envvar="LLMPULSE_API_KEY", help="API key of the target project.")
    ] = None,
    qps: Annotated[
        float, typer.Option(help="Events per second; 0 sends as fast as accepted.")
    ] = 50,
    users: Annotated[int, typer.Option(min=1, help="Distinct simulated users.")] = 100,
    duration: Annotated[
        str | None, typer.Option(help="How long to run, e.g. 60s, 10m (default 60s).")
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many events.")] = None,
    error_rate: Annotated[float, typer.Option(min=0, max=1, help="Base error rate.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Same seed, same events (ids included).")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Events per request.")] = 500,
    retries: Annotated[
        int,
        typer.Option(min=0, help="Retries of a failed batch (same event ids) before giving up."),
    ] = 7,
    backfill: Annotated[
        str | None,
        typer.Option(help="Spread the events' timestamps over this much past time, e.g. 7d."),
    ] = None,
    text: Annotated[
        bool, typer.Option(help="Calls carry a prompt and a completion (text descriptors).")
    ] = False,
    social: Annotated[
        bool,
        typer.Option(
            help="Send social posts about NVIDIA instead of LLM calls: bursts, bot rings and "
            "a news event 5 minutes in; to /v1/social/posts, or to RabbitMQ with --amqp."
        ),
    ] = False,
    amqp: Annotated[
        str | None,
        typer.Option(help="With --social: publish to RabbitMQ (amqp://user:pass@host:5672/)."),
    ] = None,
    queue: Annotated[str, typer.Option(help="With --amqp: the queue.")] = "posts",
) -> None:
    """Send simulated LLM calls: several providers' models, sessions, an A/B experiment,
    error bursts (or, with --social, posts). Failed batches are retried with the same ids."""
    if duration is not None and count is not None:
        raise fail("give --duration or --count, not both")
    seconds = parse_duration(duration, "--duration") if duration else None
    if seconds is None and count is None:
        seconds = 60.0
    backfill_s = parse_duration(backfill, "--backfill") if backfill else 0.0
    if backfill_s and count is None:
        raise fail("--backfill needs --count")
    if amqp and not social:
        raise fail("--amqp sends posts: add --social")
    sender: EventSender | AmqpSender
    generator: TrafficGenerator | PostGenerator
    if social:
        generator = PostGenerator(seed=seed)
        rate_at = None if backfill_s else generator.rate_at
        try:
            sender = (
                AmqpSender(amqp, queue)
                if amqp
                else EventSender(url, api_key, max_attempts=retries + 1, path="/v1/social/posts")
            )
        except BusError as exc:
            raise fail(str(exc)) from None
    else:
        sender = EventSender(url, api_key, max_attempts=retries + 1)
        generator = TrafficGenerator(seed=seed, users=users, error_rate=error_rate, text=text)
        rate_at = None
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("sending", total=count or int(qps * (seconds or 0)) or None)
        try:
            run_simulation(
                sender, generator, count=count, duration_s=seconds, qps=qps,
                batch_size=batch_size, backfill_s=backfill_s,
                on_sent=lambda n: progress.advance(task, n), rate_at=rate_at,
            )  # fmt: skip
        except (SendError, BusError) as exc:
            raise fail(str(exc)) from None
        finally:
            sender.close()
    stats = sender.stats
    console.print(
        f"sent {stats.sent}: accepted {stats.accepted}, rejected {stats.rejected}, "
        f"retries {stats.retries}"
    )
    print_rejections(stats.errors)

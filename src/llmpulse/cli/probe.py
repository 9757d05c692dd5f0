"""`llmpulse probe`: synthetic monitoring and load tests of any OpenAI-compatible endpoint."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

import openai
import typer
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

import llmpulse
from llmpulse.cli.common import console, fail, parse_duration
from llmpulse.probe.prompts import BUNDLED, PromptFileError, load_prompts
from llmpulse.probe.run import ModelStats, Plan, Probe

_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*/\s*(s|m|h)")
_PER = {"s": 1, "m": 60, "h": 3600}


def parse_rate(text: str) -> float:
    """`2/s`, `30/m`, `100/h` -> calls per second."""
    match = _RATE.fullmatch(text.strip())
    if not match or float(match[1]) <= 0:
        raise typer.BadParameter(
            f"{text!r} is not a rate like 2/s, 30/m or 100/h", param_hint="--rate"
        )
    return float(match[1]) / _PER[match[2]]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def table(stats: dict[str, ModelStats], title: str) -> Table:
    out = Table(
        title=title, title_justify="left", caption="times in ms", caption_justify="left",
        box=box.SIMPLE_HEAD,
    )  # fmt: skip
    out.add_column("model", no_wrap=True)
    for column in ("sent", "ok", "failed", "lat p50", "lat p95", "ttft p50", "ttft p95", "tok/s"):
        out.add_column(column, justify="right", no_wrap=True)
    for model, s in stats.items():
        tps = s.tokens_per_s
        out.add_row(
            model, str(s.sent), str(s.ok), str(s.failed),
            _ms(s.quantile(s.latency_ms, 0.5)), _ms(s.quantile(s.latency_ms, 0.95)),
            _ms(s.quantile(s.ttft_ms, 0.5)), _ms(s.quantile(s.ttft_ms, 0.95)),
            "-" if tps is None else f"{tps:,.1f}",
        )  # fmt: skip
    return out


def probe(
    base_url: Annotated[
        str, typer.Option(help="The OpenAI-compatible API, e.g. http://localhost:11434/v1.")
    ],
    model: Annotated[str | None, typer.Option(help="Model to call.")] = None,
    compare: Annotated[
        str | None,
        typer.Option(help="Several models, comma-separated: same prompts, side by side."),
    ] = None,
    api_key: Annotated[
        str, typer.Option(envvar="OPENAI_API_KEY", help="Key of the endpoint (not LLMPulse's).")
    ] = "none",
    prompts: Annotated[
        str,
        typer.Option(
            help="A .txt (a prompt per line) or .jsonl (messages per line), "
            f"or a bundled set: {', '.join(BUNDLED)}."
        ),
    ] = "quick",
    rate: Annotated[str | None, typer.Option(help="Calls per second or minute: 2/s, 30/m.")] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Calls in flight at once (default 1).")
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many calls.")] = None,
    duration: Annotated[
        str | None, typer.Option(help="Stop after this long, e.g. 90s, 10m.")
    ] = None,
    loop: Annotated[
        bool, typer.Option("--loop", help="Start the prompts over when they run out.")
    ] = False,
    stream: Annotated[
        bool, typer.Option("--stream", help="Stream the answers (measures TTFT).")
    ] = False,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="max_tokens of each call.")] = None,
    collector: Annotated[
        str | None,
        typer.Option(envvar="LLMPULSE_ENDPOINT", help="The LLMPulse server recording the calls."),
    ] = None,
    collector_key: Annotated[
        str | None, typer.Option(envvar="LLMPULSE_API_KEY", help="API key of the LLMPulse project.")
    ] = None,
) -> None:
    """Send prompts to an OpenAI-compatible endpoint; every call becomes an event.

    A live table shows sent, ok, failed, latency and TTFT p50/p95 and tokens/s per model,
    and stays as the summary."""
    models = [m.strip() for m in (compare or model or "").split(",") if m.strip()]
    if not models:
        raise fail("name a --model, or several with --compare M1,M2")
    if rate and concurrency:
        raise fail("--rate and --concurrency are alternatives: give one")
    try:
        loaded = load_prompts(prompts)
    except PromptFileError as exc:
        raise fail(str(exc)) from None
    if loop and not (count or duration):
        raise fail("--loop needs --count or --duration to stop")
    plan = Plan(
        models, loaded, rate=parse_rate(rate) if rate else None, concurrency=concurrency or 1,
        count=count, duration_s=parse_duration(duration, "--duration") if duration else None,
        loop=loop, stream=stream, max_tokens=max_tokens,
    )  # fmt: skip
    llmpulse.init(endpoint=collector, api_key=collector_key)
    llmpulse.instrument_openai()
    client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    runner = Probe(client, plan)
    title = f"probe {base_url} ({len(loaded)} prompts{', streaming' if stream else ''})"
    # Piped (CI logs, files): wide enough for the whole table rather than 80 columns.
    screen = console if console.is_terminal else Console(width=max(console.width, 120))
    with Live(table(runner.stats, title), console=screen, refresh_per_second=4) as live:
        try:
            asyncio.run(runner.run(lambda: live.update(table(runner.stats, title))))
        except KeyboardInterrupt:
            runner.stop()
        live.update(table(runner.stats, title))
    console.print()
    delivered = llmpulse.flush(timeout=15)
    for name, s in runner.stats.items():
        for error, n in s.errors.items():
            console.print(f"  {name}: {n} x {error}")
    sent = sum(s.sent for s in runner.stats.values())
    console.print(
        f"{sent} calls recorded"
        + ("" if delivered else " (some not yet delivered to the collector)")
    )

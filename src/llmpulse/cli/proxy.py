"""`llmpulse proxy`: record every LLM call that goes through, with no code change."""

from __future__ import annotations

import os
from typing import Annotated

import typer
import uvicorn

from llmpulse.cli.common import console
from llmpulse.proxy.app import SETTINGS_VARIABLE, ProxySettings


def proxy(
    upstream: Annotated[
        str,
        typer.Option(
            help="The API behind the proxy: https://api.openai.com, https://api.anthropic.com, "
            "or any OpenAI-compatible server (Ollama, vLLM, Azure, ...)."
        ),
    ],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8100,
    collector: Annotated[
        str | None,
        typer.Option(envvar="LLMPULSE_ENDPOINT", help="The LLMPulse server receiving the events."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="LLMPULSE_API_KEY", help="API key of the LLMPulse project."),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(help="Provider recorded on events (default: openai or anthropic, by API)."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes serving calls, each with one event loop. For hundreds of "
            "concurrent streams, use about one per core plus one (3 on 2 cores).",
        ),
    ] = 1,
    max_request_mb: Annotated[
        int,
        typer.Option(
            min=1,
            help="Largest request body accepted, in MiB; larger ones get 413. Bodies are read "
            "whole to record the call.",
        ),
    ] = 64,
    no_content: Annotated[
        bool, typer.Option("--no-content", help="Do not record prompts and completions.")
    ] = False,
) -> None:
    """Run a recording proxy for the OpenAI and Anthropic APIs.

    Point clients at it (OPENAI_BASE_URL=http://127.0.0.1:8100/v1, or ANTHROPIC_BASE_URL=
    http://127.0.0.1:8100) and each call becomes an event. Headers X-LLMPulse-User,
    -Session, -Experiment, -Variant, -Prompt-Version, -Tags and X-LLMPulse-Metadata-<key>
    set its context and are not sent upstream.
    """
    settings = ProxySettings(upstream, provider, collector, api_key, not no_content, max_request_mb)
    console.print(
        f"LLMPulse proxy on http://{host}:{port} -> {upstream}; events to "
        f"{collector or 'http://127.0.0.1:8000'}"
        + (f"; {workers} worker processes" if workers > 1 else "")
    )
    os.environ[SETTINGS_VARIABLE] = settings.to_environment()
    uvicorn.run(
        "llmpulse.proxy.app:from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )

"""`llmpulse proxy`: record every LLM call that goes through, with no code change."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

import llmpulse
from llmpulse.cli.common import console
from llmpulse.proxy.app import Proxy, ProxySettings


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
    llmpulse.init(endpoint=collector, api_key=api_key, capture_content=not no_content)
    app = Proxy(ProxySettings(upstream=upstream, provider=provider))
    console.print(
        f"LLMPulse proxy on http://{host}:{port} -> {upstream}; events to "
        f"{collector or 'http://127.0.0.1:8000'}"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)

"""Calling a running server from the CLI: its URL and key options, and one request with
a one-line error for an error answer."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer

from llmpulse.cli.common import fail

Url = Annotated[
    str, typer.Option(envvar="LLMPULSE_URL", help="The LLMPulse server.", show_default=True)
]
Key = Annotated[
    str | None,
    typer.Option(envvar="LLMPULSE_API_KEY", help="An API key of the project (admin to change)."),
]
DEFAULT_URL = "http://127.0.0.1:8000"


def call(
    url: str,
    key: str | None,
    method: str,
    path: str,
    body: Any = None,
    params: dict[str, Any] | None = None,
) -> Any:
    """The answer's JSON; one clear line and exit 1 for an error answer."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    target = url.rstrip("/") + path
    try:
        r = httpx.request(method, target, json=body, params=params, headers=headers, timeout=120)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {url}: {exc}") from None
    if r.status_code >= 400:
        try:
            answer = r.json()
            detail = "; ".join(f"{d.get('field')}: {d['error']}" for d in answer.get("detail", []))
            message = detail or answer.get("error", r.text)
        except ValueError:
            message = r.text[:300]
        raise fail(f"{method} {path}: {r.status_code} {message}")
    return r.json()

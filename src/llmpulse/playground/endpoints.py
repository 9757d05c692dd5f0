"""The LLM endpoints of `--llm NAME=URL[,KEY]`: OpenAI-compatible, the operator's keys."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    name: str  # recorded as the events' provider
    url: str
    key: str | None

    def __repr__(self) -> str:  # never the key, in a log or a traceback
        return f"Endpoint({self.name!r}, {self.url!r})"


def parse_endpoints(text: str) -> dict[str, Endpoint]:
    """`NAME=URL[,KEY];...` -> the endpoints by name."""
    endpoints: dict[str, Endpoint] = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        name, sep, rest = entry.partition("=")
        url, _, key = rest.partition(",")
        if not sep or not name.strip() or not url.startswith(("http://", "https://")):
            shown = f"{name}={url}" if sep else entry  # the key, if any, is not echoed
            raise ValueError(f"--llm {shown!r} is not NAME=URL[,KEY] with an http(s) URL")
        endpoints[name.strip()] = Endpoint(name.strip(), url.strip(), key.strip() or None)
    return endpoints

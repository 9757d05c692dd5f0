"""A caller's request, read straight off the ASGI scope: the few things the proxy needs,
without building a framework request for every call."""

from __future__ import annotations

from dataclasses import dataclass

from llmpulse.proxy.relay import Receive, Scope


@dataclass(slots=True)
class Incoming:
    method: str
    path: str
    query: str
    header_list: list[tuple[str, str]]  # as sent, names lower-case (ASGI gives them so)
    headers: dict[str, str]  # by name, for lookups
    body: bytes

    @property
    def target(self) -> str:
        """Path and query, as the caller asked for them."""
        return f"{self.path}?{self.query}" if self.query else self.path


class BodyTooLarge(Exception):
    """The request's body is over the proxy's limit (declared or as it arrives)."""


async def read_incoming(scope: Scope, receive: Receive, max_bytes: int) -> Incoming | None:
    """The request with its whole body; None when the caller left before sending it all.
    Raises BodyTooLarge past `max_bytes`, before reading more than that."""
    header_list = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    headers = dict(header_list)
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:  # a chunked body, with no length announced
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return Incoming(
        method=scope["method"],
        path=scope["path"],
        query=scope["query_string"].decode("latin-1"),
        header_list=header_list,
        headers=headers,
        body=b"".join(chunks),
    )

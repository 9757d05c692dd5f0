"""Decode an ingest request body: JSON object, JSON array or NDJSON, maybe gzip'd."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request

from llmpulse.api.errors import FieldError

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_EVENTS = 10_000
JSON_TYPES = ("application/json", "text/json", "")
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


class BodyError(FieldError):
    """A request body that cannot be read; carries the HTTP status to answer with."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(status, field, message, error=message)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_type(content_type: str | None) -> None:
    kind = media_type(content_type)
    if kind not in JSON_TYPES + NDJSON_TYPES:
        raise BodyError(
            415,
            "Content-Type",
            f"unsupported content type {kind!r}: send application/json or application/x-ndjson",
        )


def decompress(body: bytes, content_encoding: str | None) -> bytes:
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise BodyError(415, "Content-Encoding", f"unsupported encoding {encoding!r}: use gzip")
    # A gzip file may hold several members one after another (`cat a.gz b.gz`); every
    # member is part of the body.
    parts: list[bytes] = []
    size = 0
    rest = body
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            part = inflater.decompress(rest, MAX_BODY_BYTES + 1 - size)
        except zlib.error as exc:
            raise BodyError(400, "body", f"malformed gzip data ({exc})") from exc
        size += len(part)
        if size > MAX_BODY_BYTES or inflater.unconsumed_tail:
            raise BodyError(413, "body", f"decompressed body exceeds {MAX_BODY_BYTES} bytes")
        if not inflater.eof:
            raise BodyError(400, "body", "malformed gzip data (truncated stream)")
        parts.append(part)
        rest = inflater.unused_data
    return b"".join(parts)


@dataclass
class ParsedBody:
    """The raw events of a body, not yet validated. An NDJSON line that is not JSON is
    one bad item, not a bad body: its text is the item, its reason in `malformed`."""

    items: list[Any]
    malformed: dict[int, str] = field(default_factory=dict)  # item index -> reason


def parse_events(data: bytes, content_type: str | None) -> ParsedBody:
    if media_type(content_type) in NDJSON_TYPES:
        body = ParsedBody([])
        for number, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                try:
                    body.items.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    body.malformed[len(body.items)] = f"malformed JSON on line {number}: {exc}"
                    body.items.append(line.decode("utf-8", "replace"))
    else:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise BodyError(400, "body", f"malformed JSON: {exc}") from exc
        body = ParsedBody(parsed if isinstance(parsed, list) else [parsed])
    if not body.items:
        raise BodyError(400, "body", "no events in the request body")
    if len(body.items) > MAX_EVENTS:
        raise BodyError(
            413, "body", f"{len(body.items)} events in one request; the limit is {MAX_EVENTS}"
        )
    return body


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes the size limit."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyError(413, "body", f"request body exceeds {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyError(413, "body", f"request body exceeds {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)

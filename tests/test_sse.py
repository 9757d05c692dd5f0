"""The proxy's SSE splitter: however the stream is cut into chunks, every event comes out
whole, byte for byte, with its event name and data."""

from __future__ import annotations

import random

import pytest

from llmpulse.proxy.sse import SseSplitter

# (event name, data lines) of each event sent
EVENTS = [
    ("", ['{"choices":[{"delta":{"content":"Hi"}}]}']),
    ("message_start", ['{"type":"message_start"}']),
    ("", ["first line", "second line"]),
    ("", ['{"text":"a \\n b"}']),
    ("ping", ["{}"]),
    ("", ["[DONE]"]),
]


def encode(newline: str) -> bytes:
    blocks = []
    for name, lines in EVENTS:
        fields = ([f"event: {name}"] if name else []) + [f"data: {line}" for line in lines]
        blocks.append(newline.join(fields) + newline + newline)
    return "".join(blocks).encode()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("seed", range(20))
def test_events_survive_any_chunking(newline: str, seed: int) -> None:
    stream = encode(newline) + b"data: unfinished"
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 40)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    splitter = SseSplitter()
    events = [event for chunk in chunks for event in splitter.feed(chunk)]
    assert b"".join(e.raw for e in events) + splitter.rest() == stream
    assert [(e.event, e.data.decode().split("\n")) for e in events] == EVENTS

"""Server-sent events, split as they stream: complete events out, the partial tail kept."""

from __future__ import annotations

from dataclasses import dataclass

_SEPARATORS = (b"\r\n\r\n", b"\n\n")


@dataclass(slots=True)
class SseEvent:
    raw: bytes  # the event as received, separator included: forwarded byte for byte
    event: str
    data: bytes  # its data lines, joined (JSON parsers read bytes)


def _parse(block: bytes, raw: bytes) -> SseEvent:
    if block.startswith(b"data: ") and b"\n" not in block:  # nearly every event
        return SseEvent(raw, "", block[6:])
    event, data = "", []
    for line in block.splitlines():
        name, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if name == b"event":
            event = value.decode("utf-8", "replace")
        elif name == b"data":
            data.append(value)
    return SseEvent(raw, event, b"\n".join(data))


class SseSplitter:
    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events completed by this chunk, in order."""
        buffer = self._buffer + chunk
        if b"\r" not in buffer:  # the usual line ends: one split does it
            *blocks, self._buffer = buffer.split(b"\n\n")
            return [_parse(block, block + b"\n\n") for block in blocks]
        events: list[SseEvent] = []
        while True:
            cut = min(
                ((i, len(sep)) for sep in _SEPARATORS if (i := buffer.find(sep)) >= 0),
                default=None,
            )
            if cut is None:
                self._buffer = buffer
                return events
            end = cut[0] + cut[1]
            events.append(_parse(buffer[: cut[0]], buffer[:end]))
            buffer = buffer[end:]

    def rest(self) -> bytes:
        """Bytes of an event the stream never finished."""
        rest, self._buffer = self._buffer, b""
        return rest

"""Server-sent events, split as they stream: complete events out, the partial tail kept."""

from __future__ import annotations

from dataclasses import dataclass

_SEPARATORS = (b"\r\n\r\n", b"\n\n")


@dataclass(slots=True)
class SseEvent:
    raw: bytes  # the event as received, separator included: forwarded byte for byte
    event: str
    data: str


def _parse(block: bytes, raw: bytes) -> SseEvent:
    event, data = "", []
    for line in block.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    return SseEvent(raw, event, "\n".join(data))


class SseSplitter:
    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events completed by this chunk, in order."""
        self._buffer += chunk
        events: list[SseEvent] = []
        while True:
            cut = min(
                ((i, len(sep)) for sep in _SEPARATORS if (i := self._buffer.find(sep)) >= 0),
                default=None,
            )
            if cut is None:
                return events
            end = cut[0] + cut[1]
            raw, self._buffer = self._buffer[:end], self._buffer[end:]
            events.append(_parse(raw[: cut[0]], raw))

    def rest(self) -> bytes:
        """Bytes of an event the stream never finished."""
        rest, self._buffer = self._buffer, b""
        return rest

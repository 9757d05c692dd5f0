"""Export formats: CSV and NDJSON as the store writes them, Parquet and Arrow written here
from Arrow tables, each streamed one page at a time so memory stays bounded."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final, Literal

import pyarrow as pa
import pyarrow.parquet as pq

ExportFormat = Literal["csv", "ndjson", "parquet", "arrow"]
# Media type, file extension, and the store's output format (None: written from Arrow).
FORMATS: Final[dict[str, tuple[str, str, str | None]]] = {
    "csv": ("text/csv; charset=utf-8", "csv", "CSVWithNames"),
    "ndjson": ("application/x-ndjson", "ndjson", "JSONEachRow"),
    "parquet": ("application/vnd.apache.parquet", "parquet", None),
    "arrow": ("application/vnd.apache.arrow.stream", "arrows", None),
}


class _Drain:
    """A write-only file whose bytes are taken after each write: a Parquet or Arrow writer
    writes into it, the response sends what it holds."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks = []
        return data


def arrow_chunks(tables: Iterable[pa.Table], fmt: ExportFormat) -> Iterator[bytes]:
    """Parquet (a row group per page) or an Arrow IPC stream, as the pages come."""
    drain = _Drain()
    writer: pq.ParquetWriter | pa.ipc.RecordBatchStreamWriter | None = None
    for table in tables:
        if writer is None:
            if fmt == "parquet":
                writer = pq.ParquetWriter(drain, table.schema, compression="zstd")
            else:
                writer = pa.ipc.new_stream(drain, table.schema)
        writer.write_table(table)
        yield drain.take()
    if writer is not None:
        writer.close()
        yield drain.take()


def disposition(name: str, fmt: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}.{FORMATS[fmt][1]}"'}

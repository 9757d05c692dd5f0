"""Export formats: CSV and NDJSON as the store writes them, Parquet and Arrow written here
from Arrow tables, each streamed one page at a time so memory stays bounded."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final, Literal

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from starlette.responses import Response

ExportFormat = Literal["csv", "ndjson", "parquet", "arrow"]
# Media type, file extension, and the store's output format (None: written from Arrow).
FORMATS: Final[dict[str, tuple[str, str, str | None]]] = {
    "csv": ("text/csv; charset=utf-8", "csv", "CSVWithNames"),
    "ndjson": ("application/x-ndjson", "ndjson", "JSONEachRow"),
    "parquet": ("application/vnd.apache.parquet", "parquet", None),
    "arrow": ("application/vnd.apache.arrow.stream", "arrows", None),
}


# Media types of formats compressed or binary already: not worth gzipping again.
BINARY_EXPORTS: Final = (FORMATS["parquet"][0], FORMATS["arrow"][0])
# The OpenAPI content of an answer given as a file.
FILE_CONTENT: Final = {
    m.split(";")[0]: {"schema": {"type": "string"}} for m, *_ in FORMATS.values()
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


def flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested answer row as one level: {"latency_ms": {"p50": 1}} -> {"latency_ms_p50": 1};
    a group's key gives its dimensions columns of their own."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, dict):
            out |= flat(value, "" if name == "key" else f"{prefix}{name}_")
        else:
            out[f"{prefix}{name}"] = value
    return out


def table_file(rows: list[dict[str, Any]], fmt: ExportFormat, name: str) -> Response:
    """Answer rows (flattened) as a file in `fmt`."""
    flats = [flat(r) for r in rows]
    columns = dict.fromkeys(name for r in flats for name in r)  # every row's, in order
    table = pa.table({c: [r.get(c) for r in flats] for c in columns})
    if fmt == "csv":
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink)
        data = sink.getvalue().to_pybytes()
    elif fmt == "ndjson":
        data = b"".join(orjson.dumps(r) + b"\n" for r in table.to_pylist())
    else:
        data = b"".join(arrow_chunks([table], fmt))
    return Response(data, media_type=FORMATS[fmt][0], headers=disposition(name, fmt))

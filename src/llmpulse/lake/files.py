"""Reading the lake's files back: checked against their manifest entry, erased users left out."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from llmpulse.lake.destination import Destination, LakeError
from llmpulse.lake.manifest import DataFile, Tombstone
from llmpulse.lake.schema import check_schema


def read_checked(dest: Destination, entry: DataFile) -> pa.Table:
    """The file's rows, after checking its bytes against the manifest's hash and its
    columns against the layer's schema."""
    data = dest.read(entry.path)
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise LakeError(f"{dest.url}: {entry.path} does not match its manifest's sha256")
    table = pq.ParquetFile(pa.BufferReader(data)).read()  # twice read_table's speed
    check_schema(table.schema, entry.layer, entry.path)
    return table


def drop_erased(table: pa.Table, tombstones: set[Tombstone]) -> pa.Table:
    """Rows of calls made by an erased user before the erasure, removed."""
    if not tombstones or table.num_rows == 0:
        return table
    received = pc.cast(table["received_at"], pa.int64())
    erased = None
    for t in tombstones:
        match = pc.and_(
            pc.and_(pc.equal(table["project"], t.project), pc.equal(table["user_id"], t.user_id)),
            pc.less_equal(received, t.erased_at_ms),
        )
        erased = match if erased is None else pc.or_(erased, match)
    assert erased is not None
    return table.filter(pc.invert(erased))


def read_ahead(dest: Destination, entries: list[DataFile], ahead: int = 8) -> Iterator[pa.Table]:
    """Each entry's checked rows, in order, the next few read meanwhile in threads (reads,
    hashing and Parquet decoding release the GIL): the store's inserts need not wait."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        queue = [pool.submit(read_checked, dest, e) for e in entries[:ahead]]
        for upcoming in entries[ahead:]:
            yield queue.pop(0).result()
            queue.append(pool.submit(read_checked, dest, upcoming))
        for job in queue:
            yield job.result()

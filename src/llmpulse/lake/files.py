"""Reading the lake's files back: checked against their manifest entry, erased users left out."""

from __future__ import annotations

import hashlib

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
    table = pq.read_table(pa.BufferReader(data))
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

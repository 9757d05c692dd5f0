"""Manifests: the lake's truth. A run writes its data files, then one manifest listing them
(row counts, time range, content hashes); only a file some manifest lists, and no later
manifest replaced, is part of the lake. The newest manifest's watermark is where the next
run starts, so writing it is what commits a run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from llmpulse.lake.destination import Destination, LakeError
from llmpulse.lake.schema import LAYERS

MANIFESTS = "_manifests"
INCREMENTAL = "incremental"
RANGE = "range"


@dataclass(frozen=True)
class DataFile:
    path: str
    layer: str
    project: str
    rows: int
    bytes: int
    sha256: str
    min_ts: str
    max_ts: str


@dataclass(frozen=True)
class Tombstone:
    project: str
    user_id: str
    erased_at_ms: int


@dataclass
class Manifest:
    run: int
    mode: str  # INCREMENTAL: from the previous watermark; RANGE: a one-off copy of a range
    schema_version: int
    created_at: str
    layers: list[str]
    watermark_from_ms: int | None  # rows inserted in the store after this ...
    watermark_to_ms: int  # ... up to this (inclusive)
    range_from_ms: int | None = None
    range_to_ms: int | None = None
    files: list[DataFile] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)  # gold files superseded by this run's
    tombstones: list[Tombstone] = field(default_factory=list)  # erasures known at this run

    def path(self) -> str:
        return manifest_path(self.run)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        files = [DataFile(**f) for f in data.pop("files")]
        tombstones = [Tombstone(**t) for t in data.pop("tombstones")]
        return cls(**data, files=files, tombstones=tombstones)


def manifest_path(run: int) -> str:
    return f"{MANIFESTS}/run-{run:06d}.json"


def load_all(dest: Destination) -> list[Manifest]:
    """Every committed run's manifest, oldest first."""
    found = []
    for path in dest.files(MANIFESTS):
        if not path.endswith(".json"):
            continue
        try:
            found.append(Manifest.from_json(json.loads(dest.read(path))))
        except (ValueError, TypeError, KeyError) as exc:
            raise LakeError(f"{dest.url}: manifest {path} cannot be read: {exc}") from exc
    return sorted(found, key=lambda m: m.run)


def live_files(manifests: list[Manifest]) -> dict[str, DataFile]:
    """The lake's files: listed by a manifest and not replaced by a later one."""
    replaced = {p for m in manifests for p in m.replaces}
    return {f.path: f for m in manifests for f in m.files if f.path not in replaced}


def tombstones(manifests: list[Manifest]) -> set[Tombstone]:
    return {t for m in manifests for t in m.tombstones}


def orphans(dest: Destination, manifests: list[Manifest]) -> list[str]:
    """Data files no manifest holds: left by a run that died before committing, or replaced."""
    live = live_files(manifests)
    return [p for layer in LAYERS for p in dest.files(layer) if p not in live]

"""Small named JSON documents per project (alert rules, channels, silences, SLOs, drift
baselines) in the store's `alert_documents` table (006_alerts.sql, named for its first
use): the same table on chDB and on a ClickHouse server, so a second node sees them too."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from llmpulse.store.engine import Engine
from llmpulse.store.tables import ALERT_DOCUMENTS

Row = dict[str, Any]


def new_version() -> int:
    """Newer writes win in the ReplacingMergeTree tables: nanoseconds since the epoch."""
    return time.time_ns()


def insert_rows(engine: Engine, table: str, rows: list[Row]) -> None:
    if rows:
        engine.insert_json_rows(table, b"".join(json.dumps(r).encode() + b"\n" for r in rows))


@dataclass(frozen=True)
class Document:
    project: str
    id: str
    body: Row


class Documents:
    """Small JSON documents of one kind (rule, channel, silence, SLO, drift baseline) by
    (project, id), the newest version of each."""

    def __init__(self, engine: Engine, kind: str) -> None:
        self._engine, self._kind = engine, kind

    def list(self, project: str | None = None) -> list[Document]:
        where = "kind = {kind:String}" + (" AND project = {p:String}" if project else "")
        rows = self._engine.rows(
            f"SELECT project, doc_id, definition FROM {ALERT_DOCUMENTS} FINAL WHERE {where} "
            "ORDER BY project, doc_id",
            {"kind": self._kind, **({"p": project} if project else {})},
        )
        return [Document(r["project"], r["doc_id"], json.loads(r["definition"])) for r in rows]

    def get(self, project: str, doc_id: str) -> Document | None:
        rows = self._engine.rows(
            f"SELECT definition FROM {ALERT_DOCUMENTS} FINAL WHERE project = {{p:String}} "
            "AND kind = {kind:String} AND doc_id = {id:String}",
            {"p": project, "kind": self._kind, "id": doc_id},
        )
        return Document(project, doc_id, json.loads(rows[0]["definition"])) if rows else None

    def put(self, project: str, doc_id: str, body: Row) -> None:
        self._write(project, doc_id, json.dumps(body), deleted=0)

    def delete(self, project: str, doc_id: str) -> bool:
        if self.get(project, doc_id) is None:
            return False
        self._write(project, doc_id, "{}", deleted=1)
        return True

    def _write(self, project: str, doc_id: str, definition: str, deleted: int) -> None:
        row = {"project": project, "kind": self._kind, "doc_id": doc_id,
               "version": new_version(), "deleted": deleted, "definition": definition}  # fmt: skip
        insert_rows(self._engine, ALERT_DOCUMENTS, [row])

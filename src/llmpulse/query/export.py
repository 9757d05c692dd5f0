"""Exports of stored rows, read a page at a time: every call of a scope in (ts, event_id)
order (each page bounded by keys, so a page costs the same at the end as at the start),
and the dead letters in the order received."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from llmpulse.query.filters import QueryError, Scope
from llmpulse.store.engine import Engine, Param
from llmpulse.store.tables import EVENTS, REJECTED, SCORES

PAGE_ROWS = 50_000
# Tables exported a page at a time by offset (their rows are few): the columns, the
# FROM clause, the time column scoped on, and the order.
OFFSET_PAGED = {
    "rejected": (
        ("received_at", "source", "reason", "raw"), REJECTED, "received_at",
        "received_at, reason, raw",
    ),
    "scores": (
        ("score_id", "ts", "received_at", "event_id", "trace_id", "name", "data_type",
         "value", "category", "source", "comment"), f"{SCORES} FINAL", "ts", "ts, score_id",
    ),
}  # fmt: skip


def event_columns(engine: Engine) -> list[str]:
    """The calls' columns as stored (materialized helper columns left out)."""
    rows = engine.rows(
        "SELECT name FROM system.columns WHERE database = currentDatabase() "
        "AND table = {t:String} AND default_kind != 'MATERIALIZED' ORDER BY position",
        {"t": EVENTS},
    )
    return [r["name"] for r in rows]


def chosen_columns(engine: Engine, columns: str | None) -> list[str]:
    known = event_columns(engine)
    if not columns:
        return known
    names = [c.strip() for c in columns.split(",") if c.strip()]
    for name in names:
        if name not in known:
            raise QueryError("columns", f"unknown column {name!r}; one of: {', '.join(known)}")
    return names


def _select(columns: list[str]) -> str:
    # event_id as text: every reader takes it (Arrow's UUID extension type is not universal).
    return ", ".join("toString(event_id) AS event_id" if c == "event_id" else c for c in columns)


def event_pages(
    engine: Engine, scope: Scope, columns: list[str]
) -> Iterator[tuple[str, dict[str, Param]]]:
    """The queries of an export, one per page, each found as the previous one is read: a
    page's last key is looked up first (two small columns), then the page is read whole."""
    where, params = scope.where()
    after = ""
    while True:
        bound = engine.rows(
            f"SELECT toString(ts) AS t, toString(event_id) AS id FROM {EVENTS} "
            f"WHERE {where}{after} ORDER BY ts, event_id LIMIT 1 OFFSET {PAGE_ROWS - 1}",
            params,
        )
        # Key bounds spelled out, not as tuples: `ts >= t` is what the primary index uses.
        upto = (
            " AND ts <= toDateTime64({upto_ts:String}, 3, 'UTC') AND (ts < "
            "toDateTime64({upto_ts:String}, 3, 'UTC') OR event_id <= toUUID({upto_id:String}))"
            if bound
            else ""
        )
        page_params: dict[str, Param] = {**params}
        if bound:
            page_params |= {"upto_ts": bound[0]["t"], "upto_id": bound[0]["id"]}
        # The conversion of event_id outside: inside, event_id is the column the keys compare.
        yield (
            f"SELECT {_select(columns)} FROM (SELECT * FROM {EVENTS} "
            f"WHERE {where}{after}{upto} ORDER BY ts, event_id)",
            page_params,
        )
        if not bound:
            return
        after = (
            " AND ts >= toDateTime64({after_ts:String}, 3, 'UTC') AND (ts > "
            "toDateTime64({after_ts:String}, 3, 'UTC') OR event_id > toUUID({after_id:String}))"
        )
        params = {**params, "after_ts": bound[0]["t"], "after_id": bound[0]["id"]}


def offset_pages(engine: Engine, scope: Scope, kind: str) -> list[tuple[str, dict[str, Param]]]:
    """Dead letters or scores (few: offsets are fine), in order: a query per page."""
    columns, source, time_column, order = OFFSET_PAGED[kind]
    where, params = scope.where(time_column)
    total = int(engine.rows(f"SELECT count() AS n FROM {source} WHERE {where}", params)[0]["n"])
    return [
        (
            f"SELECT {', '.join(columns)} FROM {source} WHERE {where} "
            f"ORDER BY {order} LIMIT {PAGE_ROWS} OFFSET {offset}",
            params,
        )
        for offset in range(0, max(total, 1), PAGE_ROWS)
    ]


def formatted_pages(
    engine: Engine, pages: Iterator[tuple[str, dict[str, Param]]], fmt: str
) -> Iterator[bytes]:
    """Each page in a store output format; CSV's header row only on the first."""
    for number, (sql, params) in enumerate(pages):
        page_format = "CSV" if fmt == "CSVWithNames" and number else fmt
        yield engine.formatted(sql, page_format, params)


def arrow_pages(engine: Engine, pages: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[pa.Table]:
    for sql, params in pages:
        yield engine.arrow(sql, params)

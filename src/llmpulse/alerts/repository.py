"""Alert rules, channels, silences, instances and history in the store (006_alerts.sql):
the same tables on chDB and on a ClickHouse server, so a second node sees the same rules."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from llmpulse.alerts.states import Instance, Transition
from llmpulse.query.filters import iso_ms
from llmpulse.store.documents import Documents, insert_rows, new_version
from llmpulse.store.engine import Engine, Param
from llmpulse.store.tables import (
    ALERT_DELIVERIES,
    ALERT_EVENTS,
    ALERT_INSTANCES,
)

Row = dict[str, Any]


def _project(project: str | None) -> tuple[str, dict[str, Param] | None]:
    """A WHERE clause for one project, or none for every project."""
    if project is None:
        return "", None
    return "WHERE project = {p:String}", {"p": project}


def new_id() -> str:
    return uuid.uuid4().hex[:12]


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = self._engine = engine
        self.rules = Documents(engine, "rule")
        self.channels = Documents(engine, "channel")
        self.silences = Documents(engine, "silence")
        self.slos = Documents(engine, "slo")

    # -- instances ------------------------------------------------------------------------

    def instances(self, project: str | None = None) -> list[Instance]:
        where, params = _project(project)
        rows = self._engine.rows(
            f"SELECT state FROM {ALERT_INSTANCES} FINAL {where} "
            "ORDER BY project, rule_id, instance",
            params,
        )
        return [Instance.from_json(r["state"]) for r in rows]

    def save_instances(self, instances: Iterable[Instance]) -> None:
        version = new_version()
        rows = [
            {"project": i.project, "rule_id": i.rule_id, "instance": i.key,
             "version": version, "state": i.to_json()}
            for i in instances
        ]  # fmt: skip
        insert_rows(self._engine, ALERT_INSTANCES, rows)

    def forget_instances(self, project: str, rule_id: str) -> None:
        """A deleted rule's instances go with it."""
        version = new_version()
        rows = [
            {"project": project, "rule_id": rule_id, "instance": i.key,
             "version": version, "deleted": 1, "state": "{}"}
            for i in self.instances(project)
            if i.rule_id == rule_id
        ]  # fmt: skip
        insert_rows(self._engine, ALERT_INSTANCES, rows)

    # -- history --------------------------------------------------------------------------

    def record(self, transitions: Iterable[tuple[str, str, Transition]]) -> None:
        """(event id, rule name, transition) rows into the history."""
        rows = []
        for event_id, rule_name, t in transitions:
            a = t.after
            detail = {"reason": t.reason, "silenced": t.silenced, "group": a.group,
                      "cause": a.cause, **t.detail}  # fmt: skip
            rows.append({
                "project": a.project, "ts": a.evaluated_at, "event_id": event_id,
                "rule_id": a.rule_id, "rule_name": rule_name, "instance": a.key,
                "from_state": t.before.state, "to_state": a.state, "severity": a.severity or "",
                "value": a.value, "bound": a.bound, "threshold": a.threshold,
                "detail": json.dumps(detail),
            })  # fmt: skip
        insert_rows(self._engine, ALERT_EVENTS, rows)

    def history(
        self, project: str, start: datetime, end: datetime, rule_id: str | None, limit: int
    ) -> list[Row]:
        params: dict[str, Param] = {"p": project, "start": start, "end": end, "limit": limit}
        where = (
            "project = {p:String} AND ts >= {start:DateTime64(3, 'UTC')} "
            "AND ts < {end:DateTime64(3, 'UTC')}"
        )
        if rule_id is not None:
            where += " AND rule_id = {rule:String}"
            params["rule"] = rule_id
        rows = self._engine.rows(
            "SELECT toUnixTimestamp64Milli(ts) AS ts_ms, event_id, rule_id, rule_name, instance, "
            "from_state, to_state, severity, value, bound, threshold, detail "
            f"FROM {ALERT_EVENTS} WHERE {where} ORDER BY ts DESC LIMIT {{limit:UInt32}}",
            params,
        )
        deliveries = self._deliveries(project, [r["event_id"] for r in rows])
        out = []
        for r in rows:
            detail = json.loads(r.pop("detail"))
            out.append({
                "ts": iso_ms(r.pop("ts_ms")), **r, "severity": r["severity"] or None,
                "group": detail.get("group", {}), "cause": detail.get("cause"),
                "reason": detail.get("reason"), "silenced": detail.get("silenced", False),
                "deliveries": deliveries.get(r["event_id"], []),
            })  # fmt: skip
        return out

    # -- deliveries -----------------------------------------------------------------------

    def delivered(
        self, project: str, event_id: str, channel_id: str, ok: bool, attempts: int, error: str
    ) -> None:
        row = {"project": project, "ts": time.time(), "event_id": event_id,
               "channel_id": channel_id, "ok": int(ok), "attempts": attempts,
               "error": error}  # fmt: skip
        insert_rows(self._engine, ALERT_DELIVERIES, [row])

    def _deliveries(self, project: str, event_ids: list[str]) -> dict[str, list[Row]]:
        if not event_ids:
            return {}
        rows = self._engine.rows(
            "SELECT event_id, channel_id, ok, attempts, error, "
            f"toUnixTimestamp64Milli(ts) AS ts_ms FROM {ALERT_DELIVERIES} "
            "WHERE project = {p:String} AND event_id IN {ids:Array(String)} ORDER BY ts",
            {"p": project, "ids": event_ids},
        )
        out: dict[str, list[Row]] = {}
        for r in rows:
            out.setdefault(r["event_id"], []).append({
                "channel": r["channel_id"], "ok": bool(r["ok"]), "attempts": r["attempts"],
                "error": r["error"] or None, "ts": iso_ms(r["ts_ms"]),
            })  # fmt: skip
        return out

    def consecutive_failures(self, project: str) -> dict[str, int]:
        """Per channel, how many of its latest deliveries failed in a row."""
        rows = self._engine.rows(
            # Newest first: groupArray keeps no order of its own, so sort by time in it.
            "SELECT channel_id, arrayMap(x -> x.2, arrayReverseSort(x -> x.1, "
            "groupArray((ts, ok)))) AS results FROM (SELECT channel_id, ts, ok "
            f"FROM {ALERT_DELIVERIES} WHERE project = {{p:String}} "
            "ORDER BY ts DESC LIMIT 20 BY channel_id) GROUP BY channel_id",
            {"p": project},
        )
        failures = {}
        for r in rows:
            ok = list(r["results"])
            failures[r["channel_id"]] = ok.index(1) if 1 in ok else len(ok)
        return failures

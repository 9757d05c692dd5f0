"""Saved drift baselines: a known-good period kept under a name, so drift is judged
against it (`reference=baseline:NAME`) instead of a window that moves with time. A window
given relatively (`-14d..-7d`) is fixed when saved."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from llmpulse.analytics.drift_sides import Side, parse_side
from llmpulse.query.filters import QueryError, Scope, iso_ms
from llmpulse.store.documents import Documents
from llmpulse.store.engine import Engine

KIND: Final = "drift_baseline"
PREFIX: Final = "baseline:"
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _iso(t: datetime) -> str:
    return iso_ms(int(t.timestamp() * 1000))


def _documents(engine: Engine) -> Documents:
    return Documents(engine, KIND)


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise QueryError("name", "1 to 64 letters, digits, '_', '.' or '-'", 422)
    return name


def save(engine: Engine, scope: Scope, name: str, window: str, now: datetime) -> dict[str, Any]:
    """Keep `window` (FROM..TO) as the baseline `name` of the project, in absolute times."""
    side = parse_side(window, "window", scope, now)
    if side.variant is not None:
        raise QueryError("window", "a baseline is a period: give FROM..TO", 422)
    body = {
        "name": check_name(name),
        "window": window,
        "from": _iso(side.start),
        "to": _iso(side.end),
        "saved_at": _iso(now),
    }
    _documents(engine).put(scope.project, name, body)
    return body


def listed(engine: Engine, project: str) -> list[dict[str, Any]]:
    return [d.body for d in _documents(engine).list(project)]


def delete(engine: Engine, project: str, name: str) -> bool:
    return _documents(engine).delete(project, name)


def side(engine: Engine, scope: Scope, value: str, param: str, now: datetime) -> Side:
    """A side as the API and the Drift page take it: `baseline:NAME` (saved), or what
    drift_sides.parse_side reads."""
    if not value.startswith(PREFIX):
        return parse_side(value, param, scope, now)
    project, name = scope.project, value.removeprefix(PREFIX)
    found = _documents(engine).get(project, name)
    if found is None:
        saved = ", ".join(b["name"] for b in listed(engine, project)) or "none yet"
        raise QueryError(param, f"no saved baseline {name!r} (saved: {saved})", 422)
    start = datetime.fromisoformat(found.body["from"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(found.body["to"].replace("Z", "+00:00"))
    return Side(value, start, end)

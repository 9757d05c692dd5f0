"""Capacity: each provider's busiest minutes (requests and tokens per minute) against the
limits the project configured for it (its rate-limit tier), and the day the forecast of the
daily busiest minute reaches a limit."""

from __future__ import annotations

from datetime import date
from typing import Any, Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmpulse.costs.forecast import forecast
from llmpulse.costs.spend import DAY
from llmpulse.query.filters import Scope
from llmpulse.store.documents import Documents
from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS

KIND: Final = "provider_limit"


class LimitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tpm: float | None = Field(None, gt=0, le=1e12, description="tokens per minute")
    rpm: float | None = Field(None, gt=0, le=1e12, description="requests per minute")

    @model_validator(mode="after")
    def _some(self) -> LimitBody:
        if self.tpm is None and self.rpm is None:
            raise ValueError("give tpm, rpm or both")
        return self


def _documents(engine: Engine) -> Documents:
    return Documents(engine, KIND)


def save_limit(engine: Engine, project: str, provider: str, body: LimitBody) -> dict[str, Any]:
    saved = {"provider": provider, "tpm": body.tpm, "rpm": body.rpm}
    _documents(engine).put(project, provider, saved)
    return saved


def delete_limit(engine: Engine, project: str, provider: str) -> bool:
    return _documents(engine).delete(project, provider)


def report(engine: Engine, scope: Scope, horizon: int, today: date) -> dict[str, Any]:
    limits = {d.id: d.body for d in _documents(engine).list(scope.project)}
    where, params = scope.where()
    rows = engine.rows(
        f"""
        SELECT p, d, max(r) AS rpm, max(t) AS tpm FROM (
            SELECT provider AS p, toStartOfMinute(ts) AS minute, toDate(minute) AS d,
                count() AS r, sum(tokens_in + tokens_out) AS t
            FROM {EVENTS} WHERE {where} GROUP BY p, minute, d)
        GROUP BY p, d ORDER BY p, d
        """,
        params,
    )
    daily: dict[str, dict[date, tuple[int, int]]] = {}
    for r in rows:
        daily.setdefault(r["p"], {})[date.fromisoformat(r["d"])] = (int(r["rpm"]), int(r["tpm"]))
    first = scope.start.date()
    days = [first + DAY * i for i in range((today - first).days)]
    out = []
    for provider in sorted(set(daily) | set(limits)):
        peaks = daily.get(provider, {})
        limit = limits.get(provider, {"tpm": None, "rpm": None})
        entry: dict[str, Any] = {
            "provider": provider,
            "limits": {"rpm": limit["rpm"], "tpm": limit["tpm"]},
            "daily_peaks": [
                {"day": d.isoformat(), "rpm": v[0], "tpm": v[1]} for d, v in sorted(peaks.items())
            ],
        }
        for i, unit in enumerate(("rpm", "tpm")):
            peak = max((v[i] for v in peaks.values()), default=0)
            series = np.array([peaks.get(d, (0, 0))[i] for d in days], dtype=float)
            entry[f"peak_{unit}"] = peak
            entry[f"{unit}_used"] = peak / limit[unit] if limit[unit] else None
            entry[f"{unit}_reaches_limit_on"] = _reaches(series, limit[unit], today, horizon)
        out.append(entry)
    return {"horizon_days": horizon, "providers": out}


def _reaches(series: np.ndarray[Any, Any], limit: float | None, today: date,
             horizon: int) -> str | None:  # fmt: skip
    """The first day the forecast busiest minute reaches the limit, within the horizon."""
    if not limit or not series.size:
        return None
    f = forecast(series, today, horizon)
    hit = np.nonzero(f.mean >= limit)[0]
    return (today + DAY * int(hit[0])).isoformat() if hit.size else None

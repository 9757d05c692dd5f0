"""Budgets: an amount of spend per month or day for the project, a feature, a model or a
user, with what is spent, what the forecast says the period will end at, and the day the
budget runs out. Alert rules watch them (`budget` and `budget_forecast` kinds)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Final, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmpulse.costs import spend
from llmpulse.query.aggregates import aggregate
from llmpulse.query.filters import QueryError, Scope
from llmpulse.store.documents import Documents
from llmpulse.store.engine import Engine

KIND: Final = "budget"
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
Dimension = Literal["feature", "model_id", "user_id"]
SCOPES: Final = get_args(Dimension)
SCOPE_HELP: Final = "project, feature:NAME, model_id:NAME or user_id:ID"
HISTORY: Final = timedelta(days=90)  # of daily spend, for the forecast


class BudgetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = Field(description=SCOPE_HELP)
    period: Literal["monthly", "daily"] = "monthly"
    amount_usd: float = Field(gt=0, le=1e9, allow_inf_nan=False)
    alert_at: list[float] = Field(
        default=[0.5, 0.8, 1.0], min_length=1, max_length=10,
        description="shares of the amount the budget's status and alerts mark",
    )  # fmt: skip

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        filters(value)
        return value

    @field_validator("alert_at")
    @classmethod
    def _levels(cls, value: list[float]) -> list[float]:
        if any(not 0 < v <= 10 for v in value):
            raise ValueError("each level must be a share above 0 and at most 10")
        return sorted(value)


def filters(scope: str) -> dict[str, list[str]]:
    """The query filters of a budget's scope; ValueError naming the forms accepted."""
    if scope == "project":
        return {}
    dimension, _, value = scope.partition(":")
    if dimension not in SCOPES or not value:
        raise ValueError(f"must be {SCOPE_HELP}")
    return {dimension: [value]}


def _documents(engine: Engine) -> Documents:
    return Documents(engine, KIND)


def save(engine: Engine, project: str, name: str, body: BudgetBody) -> dict[str, Any]:
    if not NAME.fullmatch(name):
        raise QueryError("name", "1 to 64 letters, digits, '_', '.' or '-'", 422)
    saved = {"name": name, **body.model_dump()}
    _documents(engine).put(project, name, saved)
    return saved


def get(engine: Engine, project: str, name: str) -> dict[str, Any] | None:
    found = _documents(engine).get(project, name)
    return found.body if found else None


def listed(engine: Engine, project: str) -> list[dict[str, Any]]:
    return [d.body for d in _documents(engine).list(project)]


def delete(engine: Engine, project: str, name: str) -> bool:
    return _documents(engine).delete(project, name)


def status(engine: Engine, project: str, budget: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Spend in the current period so far, its projection to the period's end by the
    forecast, and the day the amount is reached (None: not within the period)."""
    today = now.date()
    chosen = filters(budget["scope"])
    amount = float(budget["amount_usd"])
    monthly = budget["period"] == "monthly"
    period_start = today.replace(day=1) if monthly else today
    period_end = spend.month_end(today) if monthly else today
    history = Scope(project, spend.midnight(today) - HISTORY, spend.midnight(today), chosen)
    days, series, _ = spend.daily_spend(engine, history, None)
    daily = series.get("", np.zeros(len(days)))
    outlook = spend.outlook(daily, today, (period_end - today).days + 1)
    # Today is forecast whole: the projection adds it to the days before it.
    before = _spent(engine, Scope(project, spend.midnight(period_start), spend.midnight(today),
                                  chosen))  # fmt: skip
    so_far = _spent(engine, Scope(project, spend.midnight(today), now, chosen))
    spent = before["cost_usd"] + so_far["cost_usd"]
    projected = max(spent, before["cost_usd"] + sum(d["spend"] for d in outlook["days"]))
    share = spent / amount
    return {
        **budget,
        "period_start": period_start.isoformat(),
        "period_end": period_end.isoformat(),
        "spent_usd": spent,
        "unpriced_calls": before["unpriced"] + so_far["unpriced"],
        "share": share,
        "levels_reached": [lv for lv in budget["alert_at"] if share >= lv],
        "projected_usd": projected,
        "projected_share": projected / amount,
        "forecast_method": outlook["method"],
        "exhausts_on": today.isoformat()
        if spent >= amount
        else spend.exhaustion(before["cost_usd"], amount, outlook["days"], period_end),
    }


def _spent(engine: Engine, scope: Scope) -> dict[str, Any]:
    if scope.end <= scope.start:
        return {"cost_usd": 0.0, "unpriced": 0}
    rows = aggregate(engine, scope, [], ["cost_usd", "unpriced"])
    row = rows[0] if rows else {}
    return {"cost_usd": float(row.get("cost_usd") or 0), "unpriced": int(row.get("unpriced") or 0)}

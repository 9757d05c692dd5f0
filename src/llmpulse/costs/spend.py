"""Daily spend, its forecast, and what it means for the month: the figures behind
`/v1/costs/forecast` and budgets. Whole UTC days; today is forecast, not counted half."""

from __future__ import annotations

import calendar
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import numpy as np

from llmpulse.costs.forecast import LEVELS, Forecast, forecast
from llmpulse.query.aggregates import aggregate
from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine

MAX_HORIZON_DAYS: Final = 365
MAX_HISTORY_DAYS: Final = 730
DAY: Final = timedelta(days=1)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def month_end(day: date) -> date:
    """The last day of `day`'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def whole_days(scope: Scope) -> tuple[Scope, date]:
    """The scope's whole days (its start's day to the day before its end's), and its end's
    day, which forecasts start on."""
    last = scope.end.date()
    return replace(scope, start=midnight(scope.start.date()), end=midnight(last)), last


def daily_spend(
    engine: Engine, scope: Scope, group_by: str | None
) -> tuple[list[date], dict[str, np.ndarray[Any, Any]], dict[str, int]]:
    """Each day of the scope (whole days) and, per group ('' without grouping), its spend
    and its unpriced calls (not in the spend)."""
    days = [scope.start.date() + DAY * i for i in range((scope.end - scope.start).days)]
    index = {d: i for i, d in enumerate(days)}
    keys = [group_by] if group_by else []
    rows = aggregate(engine, scope, keys, ["cost_usd", "unpriced"], bucket_s=86400)
    spend: dict[str, np.ndarray[Any, Any]] = {}
    unpriced: dict[str, int] = {}
    for r in rows:
        group = str(r[group_by]) if group_by else ""
        day = datetime.fromtimestamp(r["t"] / 1000, tz=UTC).date()
        series = spend.setdefault(group, np.zeros(len(days)))
        if day in index:
            series[index[day]] += r["cost_usd"] or 0.0
        unpriced[group] = unpriced.get(group, 0) + int(r["unpriced"] or 0)
    return days, spend, unpriced


def outlook(history: np.ndarray[Any, Any], today: date, horizon: int) -> dict[str, Any]:
    """The forecast from today on, and the month's projected spend (spent before today
    plus the forecast to the month's end)."""
    left = (month_end(today) - today).days + 1
    # Days before the first spend are not history (a project that began last week has one
    # week, not a quarter of zeros).
    f = forecast(np.trim_zeros(history, "f"), today, max(horizon, left))
    month_days = min(today.day - 1, len(history))
    spent = float(history[len(history) - month_days :].sum()) if month_days else 0.0
    rest = f.total(left)
    projected = {k: (v + spent if k == "value" else [x + spent for x in v])
                 for k, v in rest.items()}  # fmt: skip
    return {
        "method": f.method,
        "note": f.note,
        "days": [_day(f, today, i) for i in range(horizon)],
        "month_to_date": spent,
        "month_end": projected,
    }


def _day(f: Forecast, today: date, i: int) -> dict[str, Any]:
    out: dict[str, Any] = {"day": (today + DAY * i).isoformat(), "spend": float(f.mean[i])}
    for level in LEVELS:
        low, high = f.bounds[level]
        out[f"ci{round(level * 100)}"] = [float(low[i]), float(high[i])]
    return out


def exhaustion(
    spent: float, amount: float, f_days: list[dict[str, Any]], period_end: date
) -> str | None:
    """The first day the period's spend (`spent` before today, then the forecast) reaches
    `amount`, within the period; None when it does not."""
    total = spent
    for d in f_days:
        if date.fromisoformat(d["day"]) > period_end:
            return None
        total += d["spend"]
        if total >= amount:
            return str(d["day"])
    return None


def spend_forecast(
    engine: Engine, scope: Scope, group_by: str | None, horizon: int, today: date
) -> dict[str, Any]:
    """Per group: the daily spend over the scope's whole days and its outlook from today."""
    days, series, unpriced = daily_spend(engine, scope, group_by)
    if not series:
        series, unpriced = {"": np.zeros(len(days))}, {"": 0}
    groups = []
    for group in sorted(series, key=lambda g: -series[g].sum()):
        entry: dict[str, Any] = {group_by: group} if group_by else {}
        entry["history"] = [{"day": d.isoformat(), "spend": float(v)}
                            for d, v in zip(days, series[group], strict=True)]  # fmt: skip
        entry["unpriced"] = unpriced.get(group, 0)
        groups.append({**entry, **outlook(series[group], today, horizon)})
    return {"horizon_days": horizon, "today": today.isoformat(), "groups": groups}

"""Daily spend forecasts with prediction intervals.

With three weeks of history or more: an additive Holt-Winters model in its state-space
form (statsmodels ETSModel, error, trend and season additive, a 7-day season), fitted by
maximum likelihood; intervals from the model's own forecast variance, and a total over
several days (month-end spend) from simulated future paths, since errors at different
horizons are correlated. With less: a seasonal-naive forecast (each day as the same
weekday last week) with a week of history, a naive one (the last day) with less, and
intervals from their residuals' spread, widening with the horizon as in Hyndman &
Athanasopoulos, Forecasting: Principles and Practice, section 5.5. The answer says which.
Spend is never negative: forecasts and bounds below zero are shown as zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

import numpy as np
from scipy import stats

SEASON: Final = 7
MIN_HOLT_WINTERS_DAYS: Final = 3 * SEASON
SIMULATIONS: Final = 1000
LEVELS: Final = (0.8, 0.95)


@dataclass(frozen=True)
class Forecast:
    method: str  # holt-winters, seasonal-naive, naive or none
    note: str | None
    mean: np.ndarray[Any, Any]
    bounds: dict[float, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]  # level -> lo, hi
    paths: np.ndarray[Any, Any] | None = None  # simulated futures (day, path), Holt-Winters
    sd: np.ndarray[Any, Any] | None = None  # each day's forecast s.d., naive methods

    def total(self, days: int) -> dict[str, Any]:
        """The sum of the first `days` forecast days, with its intervals."""
        value = float(self.mean[:days].sum())
        out: dict[str, Any] = {"value": value}
        for level in LEVELS:
            if self.paths is not None:
                sums = self.paths[:days].sum(axis=0)
                tail = (1 - level) / 2 * 100
                low, high = np.percentile(sums, [tail, 100 - tail])
            elif self.sd is not None:  # the days taken as independent: an approximation
                z = float(stats.norm.ppf(0.5 + level / 2))
                half = z * math.sqrt(float((self.sd[:days] ** 2).sum()))
                low, high = value - half, value + half
            else:
                low = high = value
            out[f"ci{round(level * 100)}"] = [max(0.0, float(low)), max(0.0, float(high))]
        return out


def forecast(history: np.ndarray[Any, Any], start: date, horizon: int) -> Forecast:
    """Forecast `horizon` days after `history` (one value a day, the last on start - 1)."""
    n = len(history)
    if n >= MIN_HOLT_WINTERS_DAYS and np.ptp(history) > 0:
        return _holt_winters(history, start, horizon)
    if n >= SEASON + 1:
        note = f"{n} days of history: fewer than {MIN_HOLT_WINTERS_DAYS} for Holt-Winters"
        return _naive(history, horizon, SEASON, "seasonal-naive", note)
    if n >= 2:
        note = f"{n} days of history: too few for a weekly season"
        return _naive(history, horizon, 1, "naive", note)
    zero = np.zeros(horizon)
    return Forecast("none", "no spend history", zero, {lv: (zero, zero) for lv in LEVELS})


def _holt_winters(history: np.ndarray[Any, Any], start: date, horizon: int) -> Forecast:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    n = len(history)
    days = pd.date_range(start - timedelta(days=n), periods=n, freq="D")
    model = ETSModel(
        pd.Series(history, index=days),
        error="add",
        trend="add",
        seasonal="add",
        seasonal_periods=SEASON,
    )
    fit = model.fit(disp=False)
    prediction = fit.get_prediction(start=n, end=n + horizon - 1)
    bounds = {}
    for level in LEVELS:
        frame = prediction.summary_frame(alpha=1 - level)
        bounds[level] = (_floor(frame["pi_lower"]), _floor(frame["pi_upper"]))
    mean = np.asarray(prediction.predicted_mean, dtype=float)
    rng = np.random.default_rng(1)  # the same paths, so the same answer, every time
    paths = fit.simulate(horizon, repetitions=SIMULATIONS, anchor="end", rng=rng)
    return Forecast("holt-winters", None, np.maximum(mean, 0), bounds, np.asarray(paths))


def _naive(
    history: np.ndarray[Any, Any], horizon: int, period: int, method: str, note: str
) -> Forecast:
    residuals = history[period:] - history[:-period]
    sigma = float(np.sqrt(np.mean(residuals**2)))  # fpp3 5.5: around the last period's value
    h = np.arange(1, horizon + 1)
    mean = history[-period:][(h - 1) % period].astype(float)
    widening = np.sqrt(np.floor((h - 1) / period) + 1)
    bounds = {}
    for level in LEVELS:
        half = float(stats.norm.ppf(0.5 + level / 2)) * sigma * widening
        bounds[level] = (_floor(mean - half), _floor(mean + half))
    return Forecast(method, note, np.maximum(mean, 0), bounds, sd=sigma * widening)


def _floor(values: Any) -> np.ndarray[Any, Any]:
    floored: np.ndarray[Any, Any] = np.maximum(np.asarray(values, dtype=float), 0)
    return floored

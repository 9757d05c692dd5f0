"""Service level objectives and their burn-rate alerts (the SRE Workbook's multiwindow,
multi-burn-rate method).

An SLO says what share of calls must be good over a period: succeed, answer within X ms,
first token within X ms, or cost at most Y. The error budget is the share allowed to be
bad; the burn rate over a window is the bad share there divided by that budget (1 spends
it exactly over the period). Three alerts watch it, each firing only when a long window
and a short one both burn fast (the short one lets the alert stop soon after a fix):

| alert | long window | short window | burn rate, 30-day period | 7-day period | severity |
|---|---|---|---|---|---|
| page-fast | 1h | 5m | 14.4 | 16.8 | critical |
| page-slow | 6h | 30m | 6 | 5.6 | critical |
| ticket | 3d | 6h | 1 | 2.8 | warning |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmpulse.alerts.kinds import Observation, register
from llmpulse.alerts.rules import Name, Rule
from llmpulse.api.errors import FieldError
from llmpulse.events.taxonomy import DIMENSIONS
from llmpulse.query import durations
from llmpulse.query.filters import Scope, iso_ms
from llmpulse.store.engine import Engine
from llmpulse.store.tables import EVENTS

Sli = Literal["success", "latency", "ttft", "cost"]
KIND: Final = "slo_burn"


@dataclass(frozen=True)
class BurnAlert:
    name: str
    long: str
    short: str
    factor_30d: float
    factor_7d: float
    severity: str


BURN_ALERTS: Final = (
    BurnAlert("page-fast", "1h", "5m", 14.4, 16.8, "critical"),
    BurnAlert("page-slow", "6h", "30m", 6.0, 5.6, "critical"),
    BurnAlert("ticket", "3d", "6h", 1.0, 2.8, "warning"),
)
WINDOWS: Final = ("5m", "30m", "1h", "6h", "3d")


class Slo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    sli: Sli = Field(description="success, latency (under threshold ms), ttft (under threshold "
                     "ms) or cost (at most threshold USD per call)")  # fmt: skip
    threshold: float | None = Field(None, gt=0, description="latency/ttft ms, cost USD")
    objective: float = Field(gt=0, lt=1, description="the share of good calls, e.g. 0.995")
    period: Literal["30d", "7d"] = "30d"
    filters: dict[str, list[str]] = Field(default_factory=dict)
    channels: list[str] = Field(default_factory=list)
    enabled: bool = True

    def check(self) -> None:
        if self.sli != "success" and self.threshold is None:
            raise FieldError(422, "threshold", f"a {self.sli} SLO needs a threshold")
        for name in self.filters:
            if name not in DIMENSIONS:
                raise FieldError(422, "filters", f"unknown dimension {name!r}")

    def burn_rules(self, slo_id: str) -> list[tuple[str, Rule]]:
        """The three alert rules of this SLO, as the evaluator runs them."""
        out = []
        for alert in BURN_ALERTS:
            factor = alert.factor_7d if self.period == "7d" else alert.factor_30d
            threshold = {"critical" if alert.severity == "critical" else "warning": factor}
            rule = Rule.model_validate({
                "name": f"{self.name}: {alert.name} burn", "kind": KIND, "metric": "burn_rate",
                "filters": self.filters, "window": alert.long, "every": "1m",
                "channels": self.channels, "enabled": self.enabled, **threshold,
                "params": {"slo": slo_id, "short": alert.short, "sli": self.sli,
                           "threshold": self.threshold, "objective": self.objective},
            })  # fmt: skip
            out.append((f"slo:{slo_id}:{alert.name}", rule))
        return out


def _sli_sql(sli: str) -> tuple[str, str]:
    """(counts as a call, counts as a bad call) over llm_events `e`; {x:Float64} is the
    SLO's threshold."""
    if sli == "success":
        return "1", "e.status = 'error'"
    if sli == "latency":
        return "1", "e.latency_ms > {x:Float64}"
    if sli == "ttft":
        return "e.ttft_ms IS NOT NULL", "e.ttft_ms > {x:Float64}"
    return "e.cost_usd IS NOT NULL", "e.cost_usd > {x:Float64}"


def bad_shares(
    engine: Engine,
    project: str,
    sli: str,
    threshold: float | None,
    filters: dict[str, list[str]],
    end: datetime,
    windows: tuple[str, ...],
) -> dict[str, tuple[int, int]]:
    """Per window ending at `end`: (bad calls, calls), in one scan of the longest."""
    longest = max(durations.seconds(w) for w in windows)
    where, params = Scope(project, end - timedelta(seconds=longest), end, filters).where()
    counted, bad = _sli_sql(sli)
    columns = []
    for w in windows:
        since = f"ts >= {{end:DateTime64(3, 'UTC')}} - toIntervalSecond({durations.seconds(w)})"
        columns.append(f"countIf({counted} AND {since}) AS n_{w}, "
                       f"countIf({counted} AND {bad} AND {since}) AS bad_{w}")  # fmt: skip
    params.update(x=float(threshold or 0))
    row = engine.rows(f"SELECT {', '.join(columns)} FROM {EVENTS} AS e WHERE {where}", params)[0]
    return {w: (int(row[f"bad_{w}"]), int(row[f"n_{w}"])) for w in windows}


def status(engine: Engine, project: str, slo: Slo, end: datetime) -> dict[str, Any]:
    """Budget remaining over the period and the burn rate of every alert window."""
    budget = 1 - slo.objective
    shares = bad_shares(engine, project, slo.sli, slo.threshold, slo.filters, end,
                        (*WINDOWS, slo.period))  # fmt: skip
    bad, total = shares[slo.period]
    return {
        "calls": total,
        "bad": bad,
        "sli": (total - bad) / total if total else None,
        "budget_remaining": 1 - bad / (budget * total) if total else None,
        "burn_rates": {w: (b / n / budget if n else None) for w, (b, n) in shares.items()
                       if w in WINDOWS},
    }  # fmt: skip


def budget_over_time(engine: Engine, project: str, slo: Slo, end: datetime) -> list[dict[str, Any]]:
    """Hour by hour over the period: the hour's burn rate and the budget remaining at its
    end (for the SLO page's charts)."""
    start = end - timedelta(seconds=durations.seconds(slo.period))
    where, params = Scope(project, start, end, slo.filters).where()
    counted, bad = _sli_sql(slo.sli)
    params.update(x=float(slo.threshold or 0))
    rows = engine.rows(
        f"SELECT toUnixTimestamp(toStartOfHour(ts)) * 1000 AS t, countIf({counted}) AS n, "
        f"countIf({counted} AND {bad}) AS bad FROM {EVENTS} AS e WHERE {where} "
        "GROUP BY t ORDER BY t",
        params,
    )
    budget = 1 - slo.objective
    total = sum(int(r["n"]) for r in rows)
    spent, out = 0, []
    for r in rows:
        spent += int(r["bad"])
        n = int(r["n"])
        out.append({
            "t": iso_ms(int(r["t"])),
            "burn_rate": int(r["bad"]) / n / budget if n else None,
            "budget_remaining": 1 - spent / (budget * total) if total else None,
        })  # fmt: skip
    return out


class SloBurnKind:
    """An SLO burn-rate alert: the value is the smaller of the two windows' burn rates, so
    it crosses the factor only when both do."""

    name = KIND

    def check(self, rule: Rule) -> None:
        raise FieldError(422, "kind", "slo_burn rules are made from SLOs: POST /v1/slos")

    def observe(self, engine: Engine, project: str, rule: Rule, end: datetime) -> list[Observation]:
        p = rule.params
        shares = bad_shares(engine, project, p["sli"], p["threshold"], rule.filters, end,
                            (rule.window, p["short"]))  # fmt: skip
        budget = 1 - float(p["objective"])
        (bad_long, n_long), (bad_short, n_short) = shares[rule.window], shares[p["short"]]
        if not n_long or not n_short:
            return [Observation({}, None)]
        burn_long, burn_short = bad_long / n_long / budget, bad_short / n_short / budget
        detail = {"burn_long": burn_long, "burn_short": burn_short}
        return [Observation({}, min(burn_long, burn_short), n_long, detail=detail)]

    def explain(
        self, engine: Engine, project: str, rule: Rule, seen: Observation, end: datetime
    ) -> dict[str, Any] | None:
        return {"burn_rates": seen.detail}


register(SloBurnKind())

"""The `budget` and `budget_forecast` rule kinds: `metric` names a budget
(PUT /v1/costs/budgets/NAME). budget: the value is the share of the budget's amount spent
in its current period (0.8 = 80%). budget_forecast: the share the period will have spent
at its end by the spend forecast, so it fires before the money runs out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from llmpulse.alerts.kinds import Observation, register
from llmpulse.alerts.rules import Rule
from llmpulse.api.errors import FieldError
from llmpulse.costs import budgets
from llmpulse.store.engine import Engine


class BudgetKind:
    def __init__(self, name: str, figure: str) -> None:
        self.name, self._figure = name, figure

    def check(self, rule: Rule) -> None:
        if not budgets.NAME.fullmatch(rule.metric):
            raise FieldError(422, "metric", "the name of a budget (PUT /v1/costs/budgets/NAME)")
        if rule.params:
            raise FieldError(422, "params", f"{self.name} rules take none")
        if rule.group_by or rule.filters:
            raise FieldError(422, "filters", "a budget's scope is set on the budget")
        if rule.comparison not in (">", ">="):
            raise FieldError(422, "comparison", "a budget rule fires on a share above: > or >=")
        if rule.confidence is not None:
            raise FieldError(422, "confidence", "applies to metric rules' rates only")

    def _status(self, engine: Engine, project: str, rule: Rule, end: datetime) -> Any:
        budget = budgets.get(engine, project, rule.metric)
        return None if budget is None else budgets.status(engine, project, budget, end)

    def observe(self, engine: Engine, project: str, rule: Rule, end: datetime) -> list[Observation]:
        status = self._status(engine, project, rule, end)
        if status is None:  # the budget was removed: no data
            return [Observation({}, None)]
        return [Observation({}, status[self._figure], detail={"spent_usd": status["spent_usd"]})]

    def explain(
        self, engine: Engine, project: str, rule: Rule, seen: Observation, end: datetime
    ) -> dict[str, Any] | None:
        status = self._status(engine, project, rule, end)
        keep = ("amount_usd", "spent_usd", "projected_usd", "exhausts_on", "period_end")
        return None if status is None else {k: status[k] for k in keep}


register(BudgetKind("budget", "share"))
register(BudgetKind("budget_forecast", "projected_share"))

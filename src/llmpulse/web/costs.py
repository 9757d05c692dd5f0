"""The Costs page: spend by dimension (pages.costs_page) and the cost advice, each section
built by the same function as its JSON twin under /v1/costs and /v1/pricing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from llmpulse.costs import budgets, caching, capacity, overrides, recommend, routing, spend
from llmpulse.costs.prices_now import Pricing
from llmpulse.costs.routes import Costing
from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine
from llmpulse.web import figures, pages
from llmpulse.web.layout import View, render, view

router = APIRouter(include_in_schema=False)
Page = Annotated[View, Depends(view)]
ADVICE_DAYS = 30  # the advice sections look at the last 30 days, whatever the page's range
HISTORY_DAYS = 90
HORIZON_DAYS = 30


@router.get("/costs", response_class=HTMLResponse)
async def costs_page(v: Page, costing: Costing) -> HTMLResponse:
    pricing = Pricing(costing.book, costing.registry)
    return await render("costs.html", v, costs_view, pricing, title="Costs")


def costs_view(engine: Engine, scope: Scope, pricing: Pricing) -> dict[str, Any]:
    data = pages.costs_page(engine, scope)
    now = datetime.now(UTC)
    today = now.date()
    advice = replace(scope, start=now - timedelta(days=ADVICE_DAYS), end=now)
    history, _ = spend.whole_days(replace(scope, start=now - spend.DAY * HISTORY_DAYS, end=now))
    outlook = spend.spend_forecast(engine, history, None, HORIZON_DAYS, today)["groups"][0]
    data["charts"]["Daily spend and forecast"] = figures.forecast(
        [(d["day"], d["spend"]) for d in outlook["history"]], outlook["days"]
    )
    data["forecast"] = outlook
    data["budgets"] = [budgets.status(engine, scope.project, b, now)
                       for b in budgets.listed(engine, scope.project)]  # fmt: skip
    data["advice"] = recommend.recommendations(engine, advice, pricing, recommend.Options())
    data["routing"] = routing.advice(engine, advice, pricing, routing.Options())
    data["caching"] = caching.opportunities(engine, advice, pricing)
    data["capacity"] = capacity.report(engine, spend.whole_days(advice)[0], HORIZON_DAYS, today)
    data["overrides"] = [overrides.described(o) for o in overrides.listed(engine, scope.project)]
    data["withheld"] = _withheld(data["advice"])
    return data


def _withheld(advice: dict[str, Any]) -> list[dict[str, Any]]:
    """Cheaper candidates not recommended, with why: the reasons a user acts on."""
    out = []
    for group in advice["groups"]:
        for c in group["candidates"]:
            if c["verdict"] == "withheld" and (c.get("saving_usd") or 0) > 0:
                out.append({**c, "group": group[advice["by"]], "model_id": group["model_id"]})
    return sorted(out, key=lambda c: -(c.get("saving_usd") or 0))

"""The Alerts, rule editor and SLOs pages, from the same functions as /v1/alerts and
/v1/slos (their JSON twins)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from llmpulse.alerts.channels import FAILING_AFTER
from llmpulse.alerts.evaluator import Evaluator
from llmpulse.alerts.metrics import METRIC_NAMES
from llmpulse.alerts.routes import ALERTS
from llmpulse.alerts.slos import Slo, budget_over_time, status
from llmpulse.alerts.starters import STARTERS
from llmpulse.alerts.states import FIRING
from llmpulse.events.taxonomy import DIMENSIONS
from llmpulse.meta.keys import ADMIN
from llmpulse.web import figures
from llmpulse.web.layout import View, page_context, templates, view

router = APIRouter(include_in_schema=False)


def alerts_page(alerts: Evaluator, project: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    silences = alerts.active_silences(project)
    rules = {d.id: d.body for d in alerts.store.rules.list(project)}
    names = {**{k: v["name"] for k, v in rules.items()}, **_slo_rule_names(alerts, project)}
    live = sorted(
        (i for i in alerts.current(project) if i.state != "ok"),
        key=lambda i: (i.state != FIRING, i.severity != "critical", i.rule_id),
    )
    history = alerts.store.history(project, now - timedelta(days=7), now, None, 200)
    live_rows = [
        {"instance": i, "name": names.get(i.rule_id, i.rule_id),
         "silenced": alerts.silenced(silences, i)}
        for i in live
    ]  # fmt: skip
    starters = [
        {"id": k, "name": v["name"], "enabled": k in rules, "rule": v} for k, v in STARTERS.items()
    ]
    in_force = [
        {"id": s.id, **s.body}
        for s in alerts.store.silences.list(project)
        if s.body["ends_at"] > time.time()
    ]
    failures = alerts.store.consecutive_failures(project)
    channels = [
        {"id": c.id, "name": c.body["name"], "type": c.body["type"],
         "failures": failures.get(c.id, 0), "failing": failures.get(c.id, 0) >= FAILING_AFTER}
        for c in alerts.store.channels.list(project)
    ]  # fmt: skip
    return {
        "live": live_rows,
        "channels": channels,
        "rules": rules,
        "errors": {k[1]: v for k, v in alerts.errors.items() if k[0] == project},
        "starters": starters,
        "silences": in_force,
        "history": history[:50],
        "charts": {"Transitions, last 7 days": _transitions(history, names)},
    }


def _slo_rule_names(alerts: Evaluator, project: str) -> dict[str, str]:
    names = {}
    for doc in alerts.store.slos.list(project):
        for rule_id, rule in Slo.model_validate(doc.body).burn_rules(doc.id):
            names[rule_id] = rule.name
    return names


def _transitions(history: list[dict[str, Any]], names: dict[str, str]) -> figures.Figure:
    """Each transition as a marker: when, which rule, to which state."""
    colours = {"firing": "#e15759", "resolved": "#59a14f", "no_data": "#bab0ac",
               "ok": "#59a14f", "pending": "#edc948"}  # fmt: skip
    traces = []
    for state, colour in colours.items():
        points = [e for e in history if e["to_state"] == state]
        if not points:
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": state,
                "x": [e["ts"] for e in points],
                "y": [names.get(e["rule_id"], e["rule_name"]) for e in points],
                "marker": {"color": colour, "size": 9},
                "hovertemplate": f"%{{y}}<extra>{state}</extra>",
            }
        )
    layout = {**figures.LAYOUT, "yaxis": {"automargin": True}, "hovermode": "closest"}
    return {"data": traces, "layout": layout}


def slos_page(alerts: Evaluator, project: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    out, charts = [], {}
    current = alerts.current(project)
    for doc in alerts.store.slos.list(project):
        slo = Slo.model_validate(doc.body)
        budget = budget_over_time(alerts.store.engine, project, slo, now)
        out.append({
            "id": doc.id, "slo": slo, "status": status(alerts.store.engine, project, slo, now),
            "alerts": [i for i in current if i.rule_id.startswith(f"slo:{doc.id}:")],
        })  # fmt: skip
        charts[f"{slo.name}: budget remaining"] = figures.lines(
            {"budget remaining": [(p["t"], p["budget_remaining"]) for p in budget]}, "share"
        )
        charts[f"{slo.name}: burn rate per hour"] = figures.lines(
            {"burn rate": [(p["t"], p["burn_rate"]) for p in budget]}, "x budget"
        )
    return {"slos": out, "charts": charts}


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_view(v: View = Depends(view), alerts: Evaluator = Depends(ALERTS)) -> HTMLResponse:
    data = await run_in_threadpool(alerts_page, alerts, v.project)
    return _render("alerts.html", v, "Alerts", data)


@router.get("/alerts/rules/edit", response_class=HTMLResponse)
async def rule_editor(
    v: View = Depends(view), alerts: Evaluator = Depends(ALERTS), id: str = ""
) -> HTMLResponse:
    found = await run_in_threadpool(alerts.store.rules.get, v.project, id) if id else None
    channels = await run_in_threadpool(alerts.store.channels.list, v.project)
    rule = found.body if found else {"name": "", "metric": "error_rate", "window": "15m",
                                     "every": "1m", "comparison": ">"}  # fmt: skip
    data = {"id": id if found else "", "rule": rule, "rule_json": orjson.dumps(rule).decode(),
            "metrics": METRIC_NAMES, "dimensions": DIMENSIONS,
            "channels": [c.id for c in channels], "charts": {}}  # fmt: skip
    return _render("rule_editor.html", v, "Alert rule" if found else "New alert rule", data)


@router.get("/slos", response_class=HTMLResponse)
async def slos_view(v: View = Depends(view), alerts: Evaluator = Depends(ALERTS)) -> HTMLResponse:
    data = await run_in_threadpool(slos_page, alerts, v.project)
    return _render("slos.html", v, "SLOs", data)


def _render(name: str, v: View, title: str, data: dict[str, Any]) -> HTMLResponse:
    figures_json = orjson.dumps(data.get("charts", {})).decode().replace("</", "<\\\\/")
    context = page_context(v, title, data=data, figures_json=figures_json,
                           can_change=ADMIN in v.scopes)  # fmt: skip
    return templates.TemplateResponse(v.request, name, context)

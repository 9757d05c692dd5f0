"""The alerting API: rules, current alerts and their history, silences, channels.

Reading needs the `read` scope; anything that changes rules, channels or silences, or
makes the server send, needs `admin`. Bodies are checked in full: a bad rule is a 422
naming the field and the reason.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from llmpulse.alerts.backtest import backtest
from llmpulse.alerts.channels import FAILING_AFTER, Notice, deliver
from llmpulse.alerts.evaluator import Evaluator
from llmpulse.alerts.kinds import KINDS
from llmpulse.alerts.repository import new_id
from llmpulse.alerts.rules import Channel, Rule, Silence
from llmpulse.alerts.slos import Slo, budget_over_time
from llmpulse.alerts.slos import status as slo_status
from llmpulse.alerts.starters import STARTERS
from llmpulse.alerts.states import FIRING, Instance
from llmpulse.api.auth import Admin, Reader
from llmpulse.api.bodies import Json, checked
from llmpulse.api.errors import ApiError, FieldError, error_responses
from llmpulse.api.openapi import answers
from llmpulse.api.services import Service
from llmpulse.meta.keys import Grant
from llmpulse.query import durations
from llmpulse.query.filters import QueryError, parse_time

router = APIRouter(
    prefix="/v1/alerts", tags=["alerts"], responses=error_responses(400, 401, 403, 404, 422, 503)
)
ALERTS: Service[Evaluator] = Service("alerts")
Alerts = Annotated[Evaluator, Depends(ALERTS)]
_SLUG = re.compile(r"[^a-z0-9]+")


class RuleAnswer(BaseModel):
    id: str
    rule: dict[str, Any]
    last_error: str | None = None


class RuleList(BaseModel):
    rules: list[RuleAnswer]


class AlertInstance(BaseModel):
    rule_id: str
    group: dict[str, str]
    state: str
    severity: str | None
    silenced: bool
    since: float
    value: float | None
    bound: float | None
    baseline: float | None
    threshold: float | None
    requests: int
    evaluated_at: float
    cause: dict[str, Any] | None


class AlertList(BaseModel):
    alerts: list[AlertInstance]


class History(BaseModel):
    events: list[dict[str, Any]]


class SilenceList(BaseModel):
    silences: list[dict[str, Any]]


class ChannelList(BaseModel):
    channels: list[dict[str, Any]]


class Evaluated(BaseModel):
    transitions: list[dict[str, Any]]


def _slug(name: str) -> str:
    return _SLUG.sub("-", name.lower()).strip("-")[:64] or new_id()


def checked_rule(alerts: Evaluator, project: str, body: dict[str, Any], prefix: str = "") -> Rule:
    """A rule its kind can evaluate, with channels that exist; 422 otherwise (fields named
    with `prefix` when the rule is part of a larger body)."""
    rule: Rule = checked(Rule, body, prefix=prefix)
    try:
        if rule.kind not in KINDS:
            known = ", ".join(KINDS)
            raise FieldError(422, "kind", f"unknown rule kind {rule.kind!r}; one of {known}")
        KINDS[rule.kind].check(rule)
        for channel in rule.channels:
            if alerts.store.channels.get(project, channel) is None:
                raise FieldError(422, "channels", f"no channel {channel!r} in this project")
    except FieldError as exc:
        raise FieldError(422, prefix + exc.field, exc.message) from None
    return rule


def _rule_answer(
    alerts: Evaluator, project: str, rule_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    return {"id": rule_id, "rule": body, "last_error": alerts.errors.get((project, rule_id))}


@router.get("/rules", summary="The project's alert rules", **answers(RuleList))
async def list_rules(alerts: Alerts, reader: Reader) -> dict[str, Any]:
    docs = await run_in_threadpool(alerts.store.rules.list, reader.project)
    return {"rules": [_rule_answer(alerts, reader.project, d.id, d.body) for d in docs]}


@router.post("/rules", summary="Create a rule (its id: `id`, or made from its name)",
             **answers(RuleAnswer, 409, status=201))  # fmt: skip
async def create_rule(body: Json, alerts: Alerts, admin: Admin) -> dict[str, Any]:
    rule_id = str(body.pop("id", "") or _slug(str(body.get("name", ""))))
    rule = await run_in_threadpool(checked_rule, alerts, admin.project, body)
    if await run_in_threadpool(alerts.store.rules.get, admin.project, rule_id):
        raise ApiError(409, f"a rule {rule_id!r} exists: PUT /v1/alerts/rules/{rule_id} changes it")
    await run_in_threadpool(alerts.store.rules.put, admin.project, rule_id, rule.public())
    alerts.wake.set()
    return _rule_answer(alerts, admin.project, rule_id, rule.public())


class Backtest(BaseModel):
    start: str = Field("-7d", alias="from", description="ISO 8601 or relative; default -7d")
    to: str = "now"
    rule: dict[str, Any]


class BacktestAnswer(BaseModel):
    step: int = Field(description="seconds between evaluations (coarser than the rule's "
                      "interval when the range would need more than 2,016)")  # fmt: skip
    evaluations: int
    fired: int
    episodes: list[dict[str, Any]]
    series: list[dict[str, Any]]


@router.post("/rules/backtest", summary="When a draft rule would have fired over history",
             **answers(BacktestAnswer))  # fmt: skip
async def backtest_rule(body: Json, alerts: Alerts, reader: Reader) -> dict[str, Any]:
    """The rule is checked as for saving (channels excepted: nothing is sent)."""
    request: Backtest = checked(Backtest, body)
    draft = {**request.rule, "channels": []}
    rule = await run_in_threadpool(checked_rule, alerts, reader.project, draft, "rule.")
    if rule.kind == "metric" and "baseline" in rule.params:
        # The one-query replay has no baseline windows; other kinds replay step by step.
        raise FieldError(422, "rule.params.baseline", "rules against a baseline are not replayed")
    now = datetime.now(UTC)
    begin, end = parse_time(request.start, "from", now), parse_time(request.to, "to", now)
    if begin >= end:
        raise FieldError(422, "from", "must be before 'to'")
    return await run_in_threadpool(backtest, alerts.store.engine, reader.project, rule, begin, end)


class Starter(BaseModel):
    id: str
    rule: dict[str, Any]
    enabled: bool


class StarterList(BaseModel):
    starters: list[Starter]


@router.get("/starters", summary="Starter rules, and whether each is enabled",
            **answers(StarterList))  # fmt: skip
async def starters(alerts: Alerts, reader: Reader) -> dict[str, Any]:
    """Enable one with PUT /v1/alerts/rules/{id} and its rule as the body."""
    docs = await run_in_threadpool(alerts.store.rules.list, reader.project)
    enabled = {d.id for d in docs if d.body.get("enabled", True)}
    return {"starters": [{"id": k, "rule": Rule.model_validate(v).public(), "enabled": k in enabled}
                         for k, v in STARTERS.items()]}  # fmt: skip


@router.get("/rules/{rule_id}", summary="One rule", **answers(RuleAnswer))
async def get_rule(rule_id: str, alerts: Alerts, reader: Reader) -> dict[str, Any]:
    found = await run_in_threadpool(alerts.store.rules.get, reader.project, rule_id)
    if found is None:
        raise ApiError(404, f"no rule {rule_id!r} in this project")
    return _rule_answer(alerts, reader.project, rule_id, found.body)


@router.put("/rules/{rule_id}", summary="Create or replace a rule", **answers(RuleAnswer))
async def put_rule(rule_id: str, body: Json, alerts: Alerts, admin: Admin) -> dict[str, Any]:
    body.pop("id", None)
    rule = await run_in_threadpool(checked_rule, alerts, admin.project, body)
    await run_in_threadpool(alerts.store.rules.put, admin.project, rule_id, rule.public())
    alerts.wake.set()
    return _rule_answer(alerts, admin.project, rule_id, rule.public())


@router.delete("/rules/{rule_id}", summary="Delete a rule and its alerts", **answers(RuleList))
async def delete_rule(rule_id: str, alerts: Alerts, admin: Admin) -> dict[str, Any]:
    if not await run_in_threadpool(alerts.store.rules.delete, admin.project, rule_id):
        raise ApiError(404, f"no rule {rule_id!r} in this project")
    await run_in_threadpool(alerts.store.forget_instances, admin.project, rule_id)
    return await list_rules(alerts, admin)


def _instance(i: Instance, silenced: bool) -> dict[str, Any]:
    return {"rule_id": i.rule_id, "group": i.group, "state": i.state, "severity": i.severity,
            "silenced": silenced, "since": i.since, "value": i.value, "bound": i.bound,
            "baseline": i.baseline,
            "threshold": i.threshold, "requests": i.requests, "evaluated_at": i.evaluated_at,
            "cause": i.cause}  # fmt: skip


@router.get("", summary="Current alert instances, firing first", **answers(AlertList))
async def current(alerts: Alerts, reader: Reader) -> dict[str, Any]:
    instances = await run_in_threadpool(alerts.current, reader.project)
    silences = await run_in_threadpool(alerts.active_silences, reader.project)
    order = {FIRING: 0, "pending": 1, "no_data": 2}
    instances.sort(key=lambda i: (order.get(i.state, 3), i.rule_id, i.key))
    return {"alerts": [_instance(i, alerts.silenced(silences, i)) for i in instances]}


@router.get("/history", summary="Transitions, newest first", **answers(History))
async def history(
    alerts: Alerts,
    reader: Reader,
    start: Annotated[str, Query(alias="from")] = "-24h",
    to: str = "now",
    rule_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    begin, end = parse_time(start, "from", now), parse_time(to, "to", now)
    events = await run_in_threadpool(
        alerts.store.history, reader.project, begin, end, rule_id, limit
    )
    return {"events": events}


@router.post("/silences", summary="Hold notifications of matching alerts until ends_at",
             **answers(SilenceList, status=201))  # fmt: skip
async def create_silence(body: Json, alerts: Alerts, admin: Admin) -> dict[str, Any]:
    silence: Silence = checked(Silence, body)
    now = time.time()
    try:
        ends = now + durations.seconds(silence.ends_at)
    except ValueError:
        try:
            ends = parse_time(silence.ends_at, "ends_at", datetime.now(UTC)).timestamp()
        except QueryError as exc:
            raise FieldError(422, "ends_at", f"{exc.message}, or a duration like 2h") from None
    if ends <= now:
        raise FieldError(422, "ends_at", "must be in the future")
    stored = {**silence.model_dump(), "ends_at": ends, "created_at": now}
    await run_in_threadpool(alerts.store.silences.put, admin.project, new_id(), stored)
    return await list_silences(alerts, admin)


@router.get("/silences", summary="Silences still in force", **answers(SilenceList))
async def list_silences(alerts: Alerts, reader: Reader) -> dict[str, Any]:
    docs = await run_in_threadpool(alerts.store.silences.list, reader.project)
    now = time.time()
    return {"silences": [{"id": d.id, **d.body} for d in docs if d.body["ends_at"] > now]}


@router.delete("/silences/{silence_id}", summary="End a silence", **answers(SilenceList))
async def delete_silence(silence_id: str, alerts: Alerts, admin: Admin) -> dict[str, Any]:
    if not await run_in_threadpool(alerts.store.silences.delete, admin.project, silence_id):
        raise ApiError(404, f"no silence {silence_id!r} in this project")
    return await list_silences(alerts, admin)


@router.get("/channels", summary="Channels, with failing ones marked", **answers(ChannelList))
async def list_channels(alerts: Alerts, reader: Reader) -> dict[str, Any]:
    docs = await run_in_threadpool(alerts.store.channels.list, reader.project)
    failures = await run_in_threadpool(alerts.store.consecutive_failures, reader.project)
    out = []
    for d in docs:
        failed = failures.get(d.id, 0)
        public = Channel.model_validate(d.body).public()
        out.append({"id": d.id, **public, "consecutive_failures": failed,
                    "failing": failed >= FAILING_AFTER})  # fmt: skip
    return {"channels": out}


@router.put("/channels/{channel_id}", summary="Create or replace a channel",
            **answers(ChannelList))  # fmt: skip
async def put_channel(channel_id: str, body: Json, alerts: Alerts, admin: Admin) -> dict[str, Any]:
    channel: Channel = checked(Channel, body)
    await run_in_threadpool(
        alerts.store.channels.put, admin.project, channel_id, channel.model_dump()
    )
    return await list_channels(alerts, admin)


@router.delete("/channels/{channel_id}", summary="Delete a channel", **answers(ChannelList))
async def delete_channel(channel_id: str, alerts: Alerts, admin: Admin) -> dict[str, Any]:
    if not await run_in_threadpool(alerts.store.channels.delete, admin.project, channel_id):
        raise ApiError(404, f"no channel {channel_id!r} in this project")
    return await list_channels(alerts, admin)


class TestResult(BaseModel):
    ok: bool
    error: str | None


@router.post("/channels/{channel_id}/test", summary="Send a test notification now",
             **answers(TestResult))  # fmt: skip
async def test_channel(channel_id: str, alerts: Alerts, admin: Admin) -> dict[str, Any]:
    found = await run_in_threadpool(alerts.store.channels.get, admin.project, channel_id)
    if found is None:
        raise ApiError(404, f"no channel {channel_id!r} in this project")
    rule = Rule.model_validate({"name": "Test notification", "metric": "error_rate",
                                "critical": 0.05})  # fmt: skip
    instance = Instance(admin.project, "test", {}, state=FIRING, severity="critical",
                        since=time.time(), value=0.1, threshold=0.05,
                        evaluated_at=time.time())  # fmt: skip
    notice = Notice(new_id(), "test", rule, instance, "test", alerts.base_url)
    try:
        await run_in_threadpool(deliver, Channel.model_validate(found.body), notice)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    return {"ok": True, "error": None}


@router.post("/evaluate", summary="Evaluate every rule of the project now",
             **answers(Evaluated))  # fmt: skip
async def evaluate(alerts: Alerts, admin: Admin) -> dict[str, Any]:
    made = await run_in_threadpool(alerts.evaluate_project, admin.project)
    return {"transitions": [
        {"rule_id": t.after.rule_id, "group": t.after.group, "from": t.before.state,
         "to": t.after.state, "reason": t.reason, "silenced": t.silenced}
        for t in made
    ]}  # fmt: skip


slo_router = APIRouter(
    prefix="/v1/slos", tags=["alerts"], responses=error_responses(400, 401, 403, 404, 422, 503)
)


class SloAnswer(BaseModel):
    id: str
    slo: dict[str, Any]
    status: dict[str, Any]
    alerts: list[AlertInstance]
    budget: list[dict[str, Any]] | None = None


class SloList(BaseModel):
    slos: list[SloAnswer]


def _slo_answer(
    alerts: Evaluator, project: str, slo_id: str, body: dict[str, Any], detail: bool
) -> dict[str, Any]:
    slo = Slo.model_validate(body)
    now = datetime.now(UTC)
    instances = [i for i in alerts.current(project) if i.rule_id.startswith(f"slo:{slo_id}:")]
    engine = alerts.store.engine
    answer = {"id": slo_id, "slo": body, "status": slo_status(engine, project, slo, now),
              "alerts": [_instance(i, False) for i in instances]}  # fmt: skip
    if detail:
        answer["budget"] = budget_over_time(engine, project, slo, now)
    return answer


def checked_slo(alerts: Evaluator, project: str, body: dict[str, Any]) -> Slo:
    slo: Slo = checked(Slo, body)
    slo.check()
    for channel in slo.channels:
        if alerts.store.channels.get(project, channel) is None:
            raise FieldError(422, "channels", f"no channel {channel!r} in this project")
    return slo


@slo_router.get("", summary="SLOs with budget remaining and burn rates", **answers(SloList))
async def list_slos(alerts: Alerts, reader: Reader) -> dict[str, Any]:
    def build() -> dict[str, Any]:
        docs = alerts.store.slos.list(reader.project)
        return {"slos": [_slo_answer(alerts, reader.project, d.id, d.body, False) for d in docs]}

    return await run_in_threadpool(build)


@slo_router.post("", summary="Create an SLO (its id: `id`, or made from its name)",
                 **answers(SloAnswer, 409, status=201))  # fmt: skip
async def create_slo(body: Json, alerts: Alerts, admin: Admin) -> dict[str, Any]:
    slo_id = str(body.pop("id", "") or _slug(str(body.get("name", ""))))
    return await _put_slo(slo_id, body, alerts, admin, create=True)


@slo_router.put("/{slo_id}", summary="Create or replace an SLO", **answers(SloAnswer))
async def put_slo(slo_id: str, body: Json, alerts: Alerts, admin: Admin) -> dict[str, Any]:
    body.pop("id", None)
    return await _put_slo(slo_id, body, alerts, admin, create=False)


async def _put_slo(
    slo_id: str, body: dict[str, Any], alerts: Alerts, admin: Grant, create: bool
) -> dict[str, Any]:
    slo = await run_in_threadpool(checked_slo, alerts, admin.project, body)
    existing = await run_in_threadpool(alerts.store.slos.get, admin.project, slo_id)
    if create and existing is not None:
        raise ApiError(409, f"an SLO {slo_id!r} exists: PUT /v1/slos/{slo_id} changes it")
    stored = slo.model_dump()
    await run_in_threadpool(alerts.store.slos.put, admin.project, slo_id, stored)
    alerts.wake.set()
    return await run_in_threadpool(_slo_answer, alerts, admin.project, slo_id, stored, True)


@slo_router.get("/{slo_id}", summary="One SLO, with its budget hour by hour",
                **answers(SloAnswer))  # fmt: skip
async def get_slo(slo_id: str, alerts: Alerts, reader: Reader) -> dict[str, Any]:
    found = await run_in_threadpool(alerts.store.slos.get, reader.project, slo_id)
    if found is None:
        raise ApiError(404, f"no SLO {slo_id!r} in this project")
    return await run_in_threadpool(_slo_answer, alerts, reader.project, slo_id, found.body, True)


@slo_router.delete("/{slo_id}", summary="Delete an SLO and its alerts", **answers(SloList))
async def delete_slo(slo_id: str, alerts: Alerts, admin: Admin) -> dict[str, Any]:
    found = await run_in_threadpool(alerts.store.slos.get, admin.project, slo_id)
    if found is None or not await run_in_threadpool(
        alerts.store.slos.delete, admin.project, slo_id
    ):
        raise ApiError(404, f"no SLO {slo_id!r} in this project")
    for rule_id, _ in Slo.model_validate(found.body).burn_rules(slo_id):
        await run_in_threadpool(alerts.store.forget_instances, admin.project, rule_id)
    return await list_slos(alerts, admin)

"""The guardrail verdict of a variant against the control, Kayenta-style."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmpulse.analytics.options import GUARDRAILS, LOWER_IS_BETTER, Options, Result


def withheld(reason: str) -> dict[str, Any]:
    return {"verdict": "not_enough_data", "reason": reason, "guardrails": {}}


def verdict(
    variant: dict[str, int], control: dict[str, int], shown: dict[str, Result], options: Options
) -> dict[str, Any]:
    """Kayenta-style: each guardrail passes when its relative change's CI lies below the
    tolerance, fails when it lies wholly above it (worse), and is marginal otherwise; the
    weighted score (1, 0.5, 0) decides: pass at 0.9, fail below 0.5 or on any failure."""
    # Calls with no user id at all (anonymous traffic, randomised per call) are judged on
    # the calls alone: the users' minimum applies when there are users.
    anonymous = options.unit == "event" and variant["users"] == control["users"] == 0
    for side, counts in (("variant", variant), ("control", control)):
        too_few_users = counts["users"] < options.min_users and not anonymous
        if counts["events"] < options.min_events or too_few_users:
            return withheld(
                f"the {side} has {counts['events']} calls and {counts['users']} "
                f"users; at least {options.min_events} and {options.min_users} "
                "are needed"
            )
    guardrails = options.guardrails or GUARDRAILS
    judged: dict[str, dict[str, Any]] = {}
    for metric, weight in guardrails.items():
        result = shown.get(metric)
        if result is None or "diff_ci" not in result:
            continue
        judged[metric] = {"weight": weight, "outcome": _judge(metric, result, options.tolerance)}
    if not judged:
        return withheld("no guardrail metric could be compared")
    score = sum(
        j["weight"] * {"pass": 1.0, "marginal": 0.5, "fail": 0.0}[j["outcome"]]
        for j in judged.values()
    ) / sum(j["weight"] for j in judged.values())
    failed = any(j["outcome"] == "fail" for j in judged.values())
    outcome = "fail" if failed or score < 0.5 else "pass" if score >= 0.9 else "marginal"
    return {"verdict": outcome, "score": score, "guardrails": judged}


def _judge(metric: str, result: Result, tolerance: float) -> str:
    worse: Callable[[float], float] = (lambda x: x) if metric in LOWER_IS_BETTER else (lambda x: -x)
    if result.get("relative_ci"):
        low, high = sorted(worse(x) for x in result["relative_ci"])
        return "fail" if low > tolerance else "pass" if high < tolerance else "marginal"
    low, high = sorted(worse(x) for x in result["diff_ci"])  # a control at 0: absolute
    return "fail" if low > 0 else "pass" if high <= 0 else "marginal"


def worst(verdicts: list[str]) -> str:
    order = ("fail", "marginal", "not_enough_data", "pass")
    return next(v for v in order if v in verdicts)

"""Experiments and scores over HTTP, every figure checked against scipy, statsmodels and
numpy over the events the test sent.

Tolerances: rates, means and their tests exactly (1e-6 relative: float sums in another
order); percentiles within 1% (DDSketch); bootstrap CIs by overlap with a seeded numpy
reference (the endpoints within a quarter of the reference's width).
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from conftest import Server, new_project_key

EXPERIMENT = "prompt-v2"
USERS = {"A": 240, "B": 260}
CALLS_PER_USER = 6
ERROR_RATE = {"A": 0.04, "B": 0.09}  # B really is worse on errors
HELPFUL = {"A": 3.6, "B": 3.4}
close = pytest.approx


def _events(rng: np.random.Generator, now: datetime) -> list[dict[str, Any]]:
    events = []
    for variant, users in USERS.items():
        for u in range(users):
            user = f"{variant}-user-{u}"
            user_error = ERROR_RATE[variant] * rng.uniform(0.5, 1.5)  # users differ
            for _ in range(CALLS_PER_USER):
                ok = rng.random() >= user_error
                latency = float(rng.lognormal(math.log(800 if variant == "A" else 900), 0.5))
                ttft = latency * float(rng.uniform(0.1, 0.4))
                tokens = int(rng.poisson(120 if variant == "A" else 125)) if ok else 0
                event = {
                    "event_id": str(uuid.UUID(int=int(rng.integers(1 << 62)))),
                    "ts": (now - timedelta(minutes=float(rng.uniform(1, 50)))).isoformat(),
                    "model_id": "gpt-4o-mini",
                    "provider": "openai",
                    "experiment": {"name": EXPERIMENT, "variant": variant},
                    "user_id": user,
                    "session_id": f"{user}-s",
                    "trace_id": uuid.uuid4().hex,
                    "latency_ms": round(latency, 3),
                    "ttft_ms": round(ttft, 3),
                    "tokens_in": 200,
                    "tokens_out": tokens,
                    "cost_usd": round(0.0001 + tokens * 2e-6, 9),
                    "status": "ok" if ok else "error",
                }
                if not ok:
                    event["error_type"] = "timeout"
                events.append(event)
    return events


def _scores(rng: np.random.Generator, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A helpfulness score (1-5) on a third of the calls, thumbs on a quarter, a label on
    a fifth; a few on the whole trace instead of the event."""
    scores = []
    for i, e in enumerate(events):
        variant = e["experiment"]["variant"]
        target = {"trace_id": e["trace_id"]} if i % 7 == 0 else {"event_id": e["event_id"]}
        if i % 3 == 0:
            value = int(np.clip(round(rng.normal(HELPFUL[variant], 1.0)), 1, 5))
            scores.append({**target, "name": "helpfulness", "value": value, "source": "eval"})
        if i % 4 == 0:
            thumbs = bool(rng.random() < (0.7 if variant == "A" else 0.6))
            scores.append({**target, "name": "thumbs", "value": thumbs})
        if i % 5 == 0:
            label = str(rng.choice(["good", "ok", "bad"], p=[0.5, 0.3, 0.2]))
            scores.append({**target, "name": "label", "value": label, "source": "annotator"})
    return scores


@pytest.fixture(scope="module")
def experiment(server: Server) -> dict[str, Any]:
    key = new_project_key(server)
    rng = np.random.default_rng(7)
    events = _events(rng, datetime.now(UTC))
    scores = _scores(rng, events)
    with server.client(key) as http:
        assert http.post("/v1/events", json=events).status_code == 202
        server.wait_loaded()
        for start in range(0, len(scores), 1000):
            answer = http.post("/v1/scores", json=scores[start : start + 1000])
            assert answer.status_code == 201, answer.text
            assert answer.json()["orphans"] == 0
    return {"key": key, "events": events, "scores": scores}


def _columns(events: list[dict[str, Any]], variant: str) -> dict[str, np.ndarray]:
    mine = [e for e in events if e["experiment"]["variant"] == variant]
    return {
        "error": np.array([e["status"] == "error" for e in mine], dtype=float),
        "latency": np.array([e["latency_ms"] for e in mine]),
        "ttft": np.array([e["ttft_ms"] for e in mine]),
        "tokens": np.array([e["tokens_out"] for e in mine], dtype=float),
        "cost": np.array([e["cost_usd"] for e in mine]),
        "user": np.array([e["user_id"] for e in mine]),
    }


def _report(server: Server, key: str, **params: Any) -> dict[str, Any]:
    """The report, per call unless the test asks otherwise (the data is randomised by user,
    which `auto` would detect)."""
    params.setdefault("unit", "event")
    with server.client(key) as http:
        answer = http.get(f"/v1/experiments/{EXPERIMENT}", params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _variant(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in report["variants"] if v["variant"] == name)


def test_experiments_listed(server: Server, experiment: dict[str, Any]) -> None:
    with server.client(experiment["key"]) as http:
        listed = http.get("/v1/experiments").json()["experiments"]
    assert [e["name"] for e in listed] == [EXPERIMENT]
    seen = {v["variant"]: v for v in listed[0]["variants"]}
    for variant, users in USERS.items():
        assert seen[variant]["users"] == users
        assert seen[variant]["events"] == users * CALLS_PER_USER
    assert listed[0]["events"] == len(experiment["events"])


def test_fixed_report_matches_scipy_and_statsmodels(
    server: Server, experiment: dict[str, Any]
) -> None:
    report = _report(server, experiment["key"], method="fixed", control="A")
    assert report["method"] == "fixed" and report["control"] == "A"
    a, b = _columns(experiment["events"], "A"), _columns(experiment["events"], "B")
    ma, mb = _variant(report, "A")["metrics"], _variant(report, "B")["metrics"]

    # Error rate: Wilson value CI, Newcombe difference CI, pooled two-proportion z-test.
    ka, na, kb, nb = int(a["error"].sum()), a["error"].size, int(b["error"].sum()), b["error"].size
    assert ma["error_rate"]["value"] == close(ka / na)
    assert ma["error_rate"]["ci"] == close(list(proportion_confint(ka, na, method="wilson")))
    assert mb["error_rate"]["diff"] == close(kb / nb - ka / na)
    newcombe = confint_proportions_2indep(kb, nb, ka, na, method="newcomb", compare="diff")
    assert mb["error_rate"]["diff_ci"] == close(list(newcombe))
    assert mb["error_rate"]["p_value"] == close(proportions_ztest([kb, ka], [nb, na])[1])
    assert mb["error_rate"]["relative"] == close((kb / nb) / (ka / na) - 1)

    # Means: Welch's t-test, its CI of the difference.
    for metric, column in (("tokens_out", "tokens"), ("cost_per_call", "cost")):
        welch = stats.ttest_ind(b[column], a[column], equal_var=False)
        low, high = welch.confidence_interval(0.95)
        assert ma[metric]["value"] == close(a[column].mean())
        assert mb[metric]["diff"] == close(b[column].mean() - a[column].mean())
        assert mb[metric]["diff_ci"] == close([low, high])
        assert mb[metric]["p_value"] == close(welch.pvalue, rel=1e-6, abs=1e-12)
        t_low, t_high = stats.t.interval(
            0.95, a[column].size - 1, a[column].mean(), stats.sem(a[column])
        )
        assert ma[metric]["ci"] == close([t_low, t_high])

    # Percentiles: DDSketch value, bootstrap CI of the difference, Mann-Whitney U.
    for metric, column, q in (
        ("latency_p50", "latency", 0.5),
        ("latency_p95", "latency", 0.95),
        ("ttft_p95", "ttft", 0.95),
    ):
        assert mb[metric]["value"] == close(np.quantile(b[column], q), rel=0.01)
        assert mb[metric]["p_value"] == close(stats.mannwhitneyu(b[column], a[column]).pvalue)
        reference = _bootstrap_diff(a[column], b[column], q)
        width = reference[1] - reference[0]
        assert abs(mb[metric]["diff_ci"][0] - reference[0]) < width / 4, metric
        assert abs(mb[metric]["diff_ci"][1] - reference[1]) < width / 4, metric

    # Holm across every test shown.
    tested = [(v, m) for v in ("B",) for m in _variant(report, v)["metrics"]]
    raw = [_variant(report, v)["metrics"][m]["p_value"] for v, m in tested]
    holm = multipletests(raw, method="holm")[1]
    for (v, m), expected in zip(tested, holm, strict=True):
        assert _variant(report, v)["metrics"][m]["p_adjusted"] == close(expected, abs=1e-12)

    # SRM: users were split 240/260 against a planned 50/50 - no mismatch at p < 0.001.
    observed = [na, nb]
    assert report["srm"]["p_value"] == close(stats.chisquare(observed).pvalue)
    assert report["srm"]["mismatch"] is False


def _bootstrap_diff(a: np.ndarray, b: np.ndarray, q: float) -> tuple[float, float]:
    rng = np.random.default_rng(99)
    boot = [
        np.quantile(rng.choice(b, b.size), q) - np.quantile(rng.choice(a, a.size), q)
        for _ in range(2000)
    ]
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(low), float(high)


def test_verdict_fails_the_variant_worse_on_errors(
    server: Server, experiment: dict[str, Any]
) -> None:
    report = _report(server, experiment["key"], method="fixed")
    verdict = _variant(report, "B")["verdict"]
    # B's error rate is about twice A's: its relative CI lies wholly above +10%.
    assert verdict["guardrails"]["error_rate"]["outcome"] == "fail"
    assert verdict["verdict"] == "fail" and report["verdict"] == "fail"
    assert "verdict" not in _variant(report, "A") or _variant(report, "A")["verdict"] is None
    # Judged on p95 latency alone with a wide tolerance, B passes (it is ~12% slower).
    lenient = _report(server, experiment["key"], guardrails="latency_p95", tolerance=0.5)
    assert _variant(lenient, "B")["verdict"]["verdict"] == "pass"
    # With more calls needed than there are, no verdict.
    withheld = _report(server, experiment["key"], min_events=10_000)
    assert _variant(withheld, "B")["verdict"]["verdict"] == "not_enough_data"
    assert "10000" in _variant(withheld, "B")["verdict"]["reason"]


def test_sequential_intervals_are_the_normal_mixture_boundary(
    server: Server, experiment: dict[str, Any]
) -> None:
    """Default: always-valid CIs (Howard et al. 2021, eq. 14, tuned for 5,000 units),
    wider than the fixed ones."""
    report = _report(server, experiment["key"])
    assert report["method"] == "sequential"
    assert any("always-valid" in n for n in report["notes"])
    a, b = _columns(experiment["events"], "A"), _columns(experiment["events"], "B")
    n, rho = a["tokens"].size + b["tokens"].size, 5000
    se = math.sqrt(
        a["tokens"].var(ddof=1) / a["tokens"].size + b["tokens"].var(ddof=1) / b["tokens"].size
    )
    half = se * math.sqrt((n + rho) / n * math.log((n + rho) / (rho * 0.05**2)))
    diff = b["tokens"].mean() - a["tokens"].mean()
    assert _variant(report, "B")["metrics"]["tokens_out"]["diff_ci"] == close(
        [diff - half, diff + half]
    )
    fixed = _report(server, experiment["key"], method="fixed")
    for metric in ("error_rate", "tokens_out", "cost_per_call"):
        seq_ci = _variant(report, "B")["metrics"][metric]["diff_ci"]
        fixed_ci = _variant(fixed, "B")["metrics"][metric]["diff_ci"]
        assert seq_ci[0] < fixed_ci[0] and seq_ci[1] > fixed_ci[1], metric


def test_user_unit_uses_the_delta_method(server: Server, experiment: dict[str, Any]) -> None:
    report = _report(server, experiment["key"], unit="user", method="fixed")
    assert report["srm"]["unit"] == "users"
    for variant in ("A", "B"):
        cols = _columns(experiment["events"], variant)
        users = sorted(set(cols["user"]))
        y = np.array([cols["error"][cols["user"] == u].sum() for u in users])
        x = np.array([float((cols["user"] == u).sum()) for u in users])
        ratio = y.sum() / x.sum()
        k = len(users)
        cov = np.cov(y, x, ddof=1)
        var = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / (k * x.mean() ** 2)
        result = _variant(report, variant)["metrics"]["error_rate"]
        assert result["value"] == close(ratio)
        z = stats.norm.ppf(0.975)
        assert result["ci"] == close([ratio - z * math.sqrt(var), ratio + z * math.sqrt(var)])


def test_scores_in_the_report_and_the_summary(server: Server, experiment: dict[str, Any]) -> None:
    events = {e["event_id"]: e for e in experiment["events"]}
    by_trace = {e["trace_id"]: e for e in experiment["events"]}

    def variant_of(score: dict[str, Any]) -> str:
        event = events.get(score.get("event_id", "")) or by_trace[score["trace_id"]]
        return str(event["experiment"]["variant"])

    values: dict[tuple[str, str], list[Any]] = {}
    for s in experiment["scores"]:
        values.setdefault((s["name"], variant_of(s)), []).append(s["value"])
    report = _report(server, experiment["key"], method="fixed")
    helpful_a = np.array(values[("helpfulness", "A")], dtype=float)
    helpful_b = np.array(values[("helpfulness", "B")], dtype=float)
    result = _variant(report, "B")["metrics"]["score:helpfulness"]
    assert result["value"] == close(helpful_b.mean())
    welch = stats.ttest_ind(helpful_b, helpful_a, equal_var=False)
    assert result["p_value"] == close(welch.pvalue)
    thumbs_b = np.array(values[("thumbs", "B")], dtype=float)
    assert _variant(report, "B")["metrics"]["score:thumbs"]["value"] == close(thumbs_b.mean())
    labels_b = values[("label", "B")]
    assert _variant(report, "B")["metrics"]["score:label=bad"]["value"] == close(
        labels_b.count("bad") / len(labels_b)
    )
    with server.client(experiment["key"]) as http:
        summary = http.get(
            "/v1/metrics/summary",
            params={"group_by": "experiment_variant", "metric": "score:helpfulness"},
        ).json()
        by_variant = {g["key"]["experiment_variant"]: g["score"] for g in summary["groups"]}
        assert by_variant["A"]["mean"] == close(helpful_a.mean())
        assert by_variant["B"]["count"] == helpful_b.size
        labels = http.get("/v1/metrics/summary", params={"metric": "score:label"}).json()
        all_labels = values[("label", "A")] + labels_b
        assert labels["groups"][0]["score"]["shares"]["good"] == close(
            all_labels.count("good") / len(all_labels)
        )
        bad = http.get("/v1/metrics/summary", params={"metric": "helpfulness"})
        assert bad.status_code == 400 and bad.json()["detail"][0]["field"] == "metric"


def test_timeline_ends_with_the_report_verdict(server: Server, experiment: dict[str, Any]) -> None:
    with server.client(experiment["key"]) as http:
        timeline = http.get(f"/v1/experiments/{EXPERIMENT}/timeline", params={"from": "-3h"})
        assert timeline.status_code == 200, timeline.text
        points = timeline.json()["points"]
    assert timeline.json()["step"] == 3600
    report = _report(server, experiment["key"], unit="auto", **{"from": "-3h"})
    assert points[-1]["verdict"] == report["verdict"]
    assert len(points) >= 1


def test_bad_experiment_requests(server: Server, experiment: dict[str, Any]) -> None:
    with server.client(experiment["key"]) as http:
        missing = http.get("/v1/experiments/nope")
        assert missing.status_code == 404 and EXPERIMENT in missing.json()["error"]
        control = http.get(f"/v1/experiments/{EXPERIMENT}", params={"control": "Z"})
        assert control.status_code == 422
        assert control.json()["detail"][0]["field"] == "control"
        assert "A, B" in control.json()["error"]
        guard = http.get(f"/v1/experiments/{EXPERIMENT}", params={"guardrails": "vibes:1"})
        assert guard.status_code == 422 and "vibes" in guard.json()["error"]
        split = http.get(f"/v1/experiments/{EXPERIMENT}", params={"split": "A:half"})
        assert split.status_code == 400 and split.json()["detail"][0]["field"] == "split"
        method = http.get(f"/v1/experiments/{EXPERIMENT}", params={"method": "bayes"})
        assert method.status_code == 400 and method.json()["detail"][0]["field"] == "method"
        timeline = http.get("/v1/experiments/nope/timeline")
        assert timeline.status_code == 404


def test_one_variant_is_not_enough_data(server: Server, project_key: str) -> None:
    events = [
        {"model_id": "m", "latency_ms": 10, "experiment": {"name": "solo", "variant": "only"}}
        for _ in range(5)
    ]
    with server.client(project_key) as http:
        assert http.post("/v1/events", json=events).status_code == 202
        server.wait_loaded()
        answer = http.get("/v1/experiments/solo")
    assert answer.status_code == 200
    assert answer.json()["verdict"] == "not_enough_data"
    assert "one variant" in answer.json()["variants"][0]["verdict"]["reason"]


def test_unit_of_randomisation_is_detected(server: Server, experiment: dict[str, Any]) -> None:
    detected = _report(server, experiment["key"], unit="auto", method="fixed")
    by_user = _report(server, experiment["key"], unit="user", method="fixed")
    assert detected["unit"] == "user" and "every user is in one variant" in detected["notes"][-1]
    assert detected["variants"] == by_user["variants"]
    # Calls of the same users in both variants: randomised per call.
    mixed = [
        {"model_id": "m", "latency_ms": 10, "user_id": f"u{i % 50}",
         "experiment": {"name": "per-call", "variant": "AB"[i // 50 % 2]}}
        for i in range(400)
    ]  # fmt: skip
    anonymous = [
        {"model_id": "m", "latency_ms": 10, "user_id": f"v{i}" if i < 300 else None,
         "experiment": {"name": "anonymous", "variant": "AB"[i % 2]}}
        for i in range(400)
    ]  # fmt: skip
    with server.client(new_project_key(server)) as http:
        assert http.post("/v1/events", json=mixed + anonymous).status_code == 202
        server.wait_loaded()
        per_call = http.get("/v1/experiments/per-call").json()
        unknown = http.get("/v1/experiments/anonymous").json()
    assert per_call["unit"] == "event" and "more than one variant, 50)" in per_call["notes"][-1]
    assert per_call["srm"]["unit"] == "events"
    assert unknown["unit"] == "event" and "75% of calls have a user_id" in unknown["notes"][-1]


def test_anonymous_calls_get_a_verdict_on_the_calls(server: Server) -> None:
    """No user ids at all: the minimum of 30 users cannot apply, the calls' minimum does."""
    calls = [
        {"model_id": "m", "latency_ms": 100 + i % 7, "status": "error" if i % 9 == 0 else "ok",
         "experiment": {"name": "no-users", "variant": "AB"[i % 2]}}
        for i in range(600)
    ]  # fmt: skip
    with server.client(new_project_key(server)) as http:
        assert http.post("/v1/events", json=calls).status_code == 202
        server.wait_loaded()
        report = http.get("/v1/experiments/no-users").json()
        few = http.get("/v1/experiments/no-users", params={"min_events": 301}).json()
    assert report["unit"] == "event"
    b = next(v for v in report["variants"] if v["variant"] == "B")
    assert b["users"] == 0 and b["verdict"]["verdict"] != "not_enough_data", b["verdict"]
    assert few["verdict"] == "not_enough_data"
    assert (
        "300 calls" in next(v for v in few["variants"] if v["variant"] == "B")["verdict"]["reason"]
    )


def test_sample_ratio_mismatch_is_flagged(server: Server, project_key: str) -> None:
    events = [
        {"model_id": "m", "latency_ms": 10, "user_id": f"u{i}",
         "experiment": {"name": "skewed", "variant": "A" if i < 700 else "B"}}
        for i in range(1000)
    ]  # fmt: skip
    with server.client(project_key) as http:
        assert http.post("/v1/events", json=events).status_code == 202
        server.wait_loaded()
        report = http.get("/v1/experiments/skewed").json()
        planned = http.get("/v1/experiments/skewed", params={"split": "A:70,B:30"}).json()
    assert report["srm"]["p_value"] == close(stats.chisquare([700, 300]).pvalue)
    assert report["srm"]["mismatch"] is True and "not to be trusted" in report["srm"]["banner"]
    assert planned["srm"]["mismatch"] is False
    assert planned["srm"]["p_value"] == close(stats.chisquare([700, 300], [700, 300]).pvalue)


def test_scores_bad_input_and_orphans(server: Server, project_key: str) -> None:
    with server.client(project_key) as http:
        assert (
            http.post(
                "/v1/events", json={"model_id": "m", "latency_ms": 5, "event_id": "e-1"}
            ).status_code
            == 202
        )
        server.wait_loaded()
        ok = http.post("/v1/scores", json={"event_id": "e-1", "name": "stars", "value": 4})
        assert ok.status_code == 201 and ok.json()["scores"][0]["orphan"] is False
        orphan = http.post(
            "/v1/scores", json={"event_id": "never-sent", "name": "stars", "value": 2}
        )
        assert orphan.status_code == 201 and orphan.json()["orphans"] == 1
        word = http.post("/v1/scores", json={"event_id": "e-1", "name": "stars", "value": "great"})
        assert word.status_code == 422 and word.json()["detail"][0]["field"] == "value"
        assert "numeric" in word.json()["error"]
        typed = http.post(
            "/v1/scores",
            json={"event_id": "e-1", "name": "new", "value": "x", "data_type": "numeric"},
        )
        assert typed.status_code == 422 and typed.json()["detail"][0]["field"] == "value"
        nothing = http.post("/v1/scores", json={"name": "stars", "value": 1})
        assert nothing.status_code == 422 and nothing.json()["detail"][0]["field"] == "event_id"
        many = http.post("/v1/scores", json=[{"event_id": "e-1", "name": "stars", "value": 1},
                                             {"event_id": "e-1", "name": "bad name!", "value": 1},
                                             {"event_id": "e-1", "name": "stars", "value": True}])  # fmt: skip
        assert many.status_code == 201, many.text  # the valid one stored, the others listed
        assert [s["index"] for s in many.json()["scores"]] == [0]
        assert [(e["index"], e["field"]) for e in many.json()["errors"]] == [
            (1, "name"),
            (2, "value"),
        ]
        none = http.post("/v1/scores", json=[{"event_id": "e-1", "name": "stars", "value": "x"}])
        assert none.status_code == 422 and none.json()["detail"][0]["field"] == "[0].value"
        nan = http.post(
            "/v1/scores",
            content=b'{"event_id": "e-1", "name": "stars", "value": NaN}',
            headers={"content-type": "application/json"},
        )
        assert nan.status_code == 400 and nan.json()["detail"][0]["field"] == "body"
        again = http.post(
            "/v1/scores",
            json={
                "score_id": "s-1",
                "event_id": "e-1",
                "name": "stars",
                "value": 5,
                "comment": "x",
            },
        )
        assert again.status_code == 201
        http.post(
            "/v1/scores", json={"score_id": "s-1", "event_id": "e-1", "name": "stars", "value": 3}
        )
        logged = http.get("/v1/scores").json()["scores"]
        event = http.get("/v1/requests/e-1").json()
    assert sorted(s["value"] for s in logged) == [1, 2, 3, 4]  # s-1 replaced, bad ones not stored
    assert [s["orphan"] for s in logged if s["value"] == 2] == [True]
    assert sorted(s["value"] for s in event["scores"]) == [1, 3, 4]

"""Retention, funnels, sessions, churn and adoption over HTTP, each figure recomputed here
in plain Python and numpy from the events the test sent (exact: counts are counts)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from conftest import Server, new_project_key

STEPS = ("search", "summarize", "export")
WINDOW_S = 3600
close = pytest.approx


def _traffic(now: datetime) -> list[dict[str, Any]]:
    """300 users over 40 days: first seen on a random day, back on later days less and
    less often; each visit a session of search, then maybe summarize, then maybe export
    (sometimes past the funnel's hour); a few calls fail."""
    rng = np.random.default_rng(11)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    events = []
    for u in range(300):
        user = f"user-{u}"
        plan = "pro" if u % 3 == 0 else "free"
        first = int(rng.integers(1, 40))
        days = [first] + [
            d for d in range(first - 1, -1, -1) if rng.random() < 0.5 * 0.93 ** (first - d)
        ]
        for n, days_ago in enumerate(days):
            start = (
                today
                - timedelta(days=days_ago)
                + timedelta(seconds=float(rng.uniform(60, 20 * 3600)))
            )
            if start >= now - timedelta(minutes=1):
                continue
            session = f"{user}-{n}"
            steps = [("search", start)]
            if rng.random() < 0.7:
                steps.append(
                    ("summarize", steps[-1][1] + timedelta(seconds=float(rng.uniform(30, 900))))
                )
                if rng.random() < 0.6:
                    late = rng.random() < 0.2  # past the hour: not counted by the funnel
                    gap = float(rng.uniform(3700, 7000) if late else rng.uniform(30, 1200))
                    steps.append(("export", steps[-1][1] + timedelta(seconds=gap)))
            for feature, ts in steps:
                if ts >= now:
                    continue
                events.append(
                    {"event_id": str(uuid.uuid4()), "ts": ts.isoformat(), "model_id": "m",
                     "latency_ms": 100, "user_id": user, "session_id": session, "feature": feature,
                     "region": plan,
                     "status": "error" if rng.random() < 0.05 else "ok"}
                )  # fmt: skip
    return events


@pytest.fixture(scope="module")
def product(server: Server) -> dict[str, Any]:
    key = new_project_key(server)
    now = datetime.now(UTC)
    events = _traffic(now)
    with server.client(key) as http:
        assert http.post("/v1/events", json=events).status_code == 202
    server.wait_loaded()
    for e in events:
        e["t"] = datetime.fromisoformat(e["ts"])
    return {"key": key, "events": events, "now": now}


def _get(server: Server, key: str, path: str, **params: Any) -> dict[str, Any]:
    with server.client(key) as http:
        answer = http.get(path, params={"from": "-45d", **params})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


@pytest.mark.parametrize("period", ["day", "week"])
def test_retention_cohorts(server: Server, product: dict[str, Any], period: str) -> None:
    events, end = product["events"], product["now"].date()
    start_of = (lambda d: d) if period == "day" else _monday
    width = 1 if period == "day" else 7
    days: dict[str, set[date]] = defaultdict(set)
    for e in events:
        days[e["user_id"]].add(e["t"].date())
    cohorts: dict[date, list[str]] = defaultdict(list)
    for user, seen in days.items():
        cohorts[start_of(min(seen))].append(user)
    answer = _get(server, product["key"], "/v1/analytics/retention", period=period)
    assert [c["cohort"] for c in answer["cohorts"]] == [d.isoformat() for d in sorted(cohorts)]
    for got in answer["cohorts"]:
        cohort = date.fromisoformat(got["cohort"])
        users = cohorts[cohort]
        assert got["users"] == len(users)
        periods = (end - cohort).days // width + 1
        expected = [
            sum(
                any(start_of(d) == cohort + timedelta(days=k * width) for d in days[u])
                for u in users
            )
            for k in range(periods)
        ]
        assert got["retained"] == expected, got["cohort"]
        for n in (1, 7, 30):
            eligible = [u for u in users if min(days[u]) + timedelta(days=n) < end]
            back = [u for u in eligible if min(days[u]) + timedelta(days=n) in days[u]]
            assert got[f"d{n}"] == (close(len(back) / len(eligible)) if eligible else None)
    k1 = [c for c in answer["cohorts"] if len(c["retained"]) > 1]
    assert answer["average"][1] == close(
        sum(c["retained"][1] for c in k1) / sum(c["users"] for c in k1)
    )


def test_retention_by_segment(server: Server, product: dict[str, Any]) -> None:
    answer = _get(server, product["key"], "/v1/analytics/retention", group_by="region")
    sizes: dict[str, int] = defaultdict(int)
    for c in answer["cohorts"]:
        sizes[c["segment"]] += c["users"]
    users = {e["user_id"]: e["region"] for e in product["events"]}
    assert dict(sizes) == {p: list(users.values()).count(p) for p in ("free", "pro")}


def _funnel_reference(events: list[dict[str, Any]]) -> tuple[list[int], list[float]]:
    by_user: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for e in events:
        by_user[e["user_id"]].append((e["t"].timestamp(), e["feature"]))
    reached = [0, 0, 0]
    gaps: list[list[float]] = [[], []]
    for calls in by_user.values():
        calls.sort()
        level = 0
        for t0, f in calls:
            if f != STEPS[0]:
                continue
            got, prev = 1, t0
            for step in STEPS[1:]:
                nxt = [t for t, g in calls if g == step and prev < t <= t0 + WINDOW_S]
                if not nxt:
                    break
                got, prev = got + 1, nxt[0]
            level = max(level, got)
        for i in range(level):
            reached[i] += 1
        times = [min((t for t, g in calls if g == STEPS[0]), default=None)]
        for step in STEPS[1:]:
            after = [t for t, g in calls if g == step and times[-1] is not None and t >= times[-1]]
            times.append(after[0] if after else None)
        for i in (1, 2):
            if level >= i + 1 and times[i] is not None:
                gaps[i - 1].append(times[i] - times[i - 1])
    return reached, [float(np.median(g)) for g in gaps]


def test_funnel(server: Server, product: dict[str, Any]) -> None:
    steps = ",".join(f"feature:{s}" for s in STEPS)
    answer = _get(server, product["key"], "/v1/analytics/funnel", steps=steps, window="1h")
    reached, medians = _funnel_reference(product["events"])
    assert [s["users"] for s in answer["steps"]] == reached
    assert answer["steps"][2]["conversion"] == close(reached[2] / reached[0])
    assert answer["steps"][1]["from_previous"] == close(reached[1] / reached[0])
    assert answer["steps"][1]["median_s_from_previous"] == close(medians[0], abs=0.001)
    assert answer["steps"][2]["median_s_from_previous"] == close(medians[1], abs=0.001)
    assert answer["median_users_share"] == 1.0  # under a million calls: every user
    assert answer["window_s"] == 3600
    wider = _get(server, product["key"], "/v1/analytics/funnel", steps=steps, window="3h")
    assert wider["steps"][2]["users"] > reached[2]  # the late exports count within 3 hours


def test_sessions_and_churn(server: Server, product: dict[str, Any]) -> None:
    events, end = product["events"], product["now"].date()
    answer = _get(server, product["key"], "/v1/analytics/sessions", group_by="region")
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_session[e["session_id"]].append(e)
    per_day: dict[date, list[list[dict[str, Any]]]] = defaultdict(list)
    for calls in by_session.values():
        per_day[min(c["t"] for c in calls).date()].append(calls)
    active: dict[date, set[str]] = defaultdict(set)
    first_day: dict[str, date] = {}
    for e in sorted(events, key=lambda e: e["t"]):
        active[e["t"].date()].add(e["user_id"])
        first_day.setdefault(e["user_id"], e["t"].date())
    got = {p["t"]: p for p in answer["periods"]}
    for day, sessions in per_day.items():
        p = got[day.isoformat()]
        lengths = np.array([len(s) for s in sessions])
        minutes = np.array(
            [
                (max(c["t"] for c in s) - min(c["t"] for c in s)).total_seconds() / 60
                for s in sessions
            ]
        )
        assert p["sessions"] == len(sessions)
        assert p["median_calls"] == close(np.percentile(lengths, 50))
        assert p["p90_calls"] == close(np.percentile(lengths, 90))
        assert p["median_minutes"] == close(np.percentile(minutes, 50), abs=1e-4)
        assert p["p90_minutes"] == close(np.percentile(minutes, 90), abs=1e-4)
        assert p["calls_per_session"] == close(lengths.mean())
        errored = [any(c["status"] == "error" for c in s) for s in sessions]
        assert p["error_share"] == close(np.mean(errored))
    for day, users in active.items():
        p = got[day.isoformat()]
        new = sum(first_day[u] == day for u in users)
        assert (p["active_users"], p["new_users"], p["returning_users"]) == (
            len(users),
            new,
            len(users) - new,
        )
        before = active.get(day - timedelta(days=1), set())
        assert p["churned_users"] == len(before - users), day
    today = got.get(end.isoformat())
    assert today is None or today["churned_users"] == len(
        active[end - timedelta(days=1)] - active[end]
    )
    plan_of = {e["user_id"]: e["region"] for e in events}
    segments = {s["segment"]: {p["t"]: p for p in s["periods"]} for s in answer["segments"]}
    some_day = sorted(active)[len(active) // 2]
    for plan in ("free", "pro"):
        before = {u for u in active[some_day - timedelta(days=1)] if plan_of[u] == plan}
        gone = {u for u in before if u not in active[some_day]}
        entry = segments[plan].get(some_day.isoformat())
        if before:
            assert entry is not None and entry["churned_users"] == len(gone)
            assert entry["previously_active"] == len(before)


def test_feature_adoption(server: Server, product: dict[str, Any]) -> None:
    answer = _get(server, product["key"], "/v1/analytics/adoption", period="week")
    first: dict[tuple[str, str], date] = {}
    cells: dict[tuple[str, date], list[str]] = defaultdict(list)
    for e in sorted(product["events"], key=lambda e: e["t"]):
        week = _monday(e["t"].date())
        first.setdefault((e["feature"], e["user_id"]), week)
        cells[(e["feature"], week)].append(e["user_id"])
    seen = 0
    for feature in answer["features"]:
        for p in feature["periods"]:
            week = date.fromisoformat(p["t"])
            calls = cells[(feature["feature"], week)]
            users = set(calls)
            new = sum(first[(feature["feature"], u)] == week for u in users)
            assert (p["calls"], p["users"], p["new_users"]) == (len(calls), len(users), new)
            seen += p["calls"]
    assert seen == len(product["events"])
    assert [f["feature"] for f in answer["features"]] == sorted(STEPS)


def test_bad_analytics_requests(server: Server, product: dict[str, Any]) -> None:
    with server.client(product["key"]) as http:
        cases = [
            (
                "/v1/analytics/funnel",
                {"steps": "feature:search,colour:red"},
                422,
                "steps",
                "colour",
            ),
            ("/v1/analytics/funnel", {"steps": "feature:search"}, 422, "steps", "2 to 8"),
            ("/v1/analytics/funnel", {"steps": "search,export"}, 422, "steps", "FIELD:VALUE"),
            (
                "/v1/analytics/funnel",
                {"steps": "feature:a,feature:b", "window": "soon"},
                400,
                "window",
                "duration",
            ),
            (
                "/v1/analytics/funnel",
                {"steps": "feature:a,feature:b", "window": "365d"},
                422,
                "window",
                "90d",
            ),
            ("/v1/analytics/retention", {"period": "month"}, 400, "period", ""),
            ("/v1/analytics/retention", {"group_by": "colour"}, 400, "group_by", "colour"),
            ("/v1/analytics/sessions", {"group_by": "colour"}, 400, "group_by", "colour"),
        ]
        for path, params, status, field, words in cases:
            answer = http.get(path, params=params)
            assert answer.status_code == status, (path, params, answer.text)
            assert answer.json()["detail"][0]["field"] == field
            assert words in answer.json()["error"], answer.text
        empty = http.get("/v1/analytics/retention", params={"from": "-1h", "user_id": "nobody"})
        assert empty.status_code == 200 and empty.json()["cohorts"] == []

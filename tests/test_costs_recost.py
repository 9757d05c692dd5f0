"""Dated price overrides and re-costing of stored calls: exactly the calls in range change,
rollups follow, a second run changes nothing, reported costs stay, bad prices are 422s."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from genai_prices import Usage, calc_price

from conftest import Server, new_project_key

DAY = timedelta(days=1)


def _events(now: datetime) -> list[dict[str, Any]]:
    """Ten days of calls, two an hour: a catalogue model, an unknown one, a reported cost."""
    out = []
    for h in range(10 * 24):
        ts = (now - timedelta(hours=h, minutes=30)).isoformat()
        for model in ("gpt-4o", "acme-llm"):
            out.append(
                {
                    "event_id": str(uuid.uuid4()),
                    "model_id": model,
                    "ts": ts,
                    "latency_ms": 100 + h,
                    "tokens_in": 1000 + 7 * h,
                    "tokens_out": 200 + h,
                    "tokens_cached": 100 * (h % 3),
                    "tokens_reasoning": 10 * (h % 4),
                    "feature": "chat" if h % 2 else "search",
                }
            )
    reported = {"model_id": "acme-llm", "latency_ms": 5, "cost_usd": 0.25, "ts": now.isoformat()}
    out.append({**reported, "event_id": str(uuid.uuid4())})
    return out


def _price(e: dict[str, Any], per_m: dict[str, float]) -> float:
    cached, reasoning = e["tokens_cached"], e["tokens_reasoning"]
    return (
        (e["tokens_in"] - cached) * per_m["input"]
        + cached * per_m["cached"]
        + (e["tokens_out"] - reasoning) * per_m["output"]
        + reasoning * per_m["reasoning"]
    ) / 1e6


def _catalogue(e: dict[str, Any]) -> float:
    usage = Usage(
        input_tokens=e["tokens_in"],
        output_tokens=e["tokens_out"],
        cache_read_tokens=e["tokens_cached"],
    )
    return float(calc_price(usage, e["model_id"], provider_id="openai").total_price)


def _stored(http: httpx.Client) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"from": "-11d", "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = http.get("/v1/requests", params=params).json()
        out.update({e["event_id"]: e for e in page["requests"]})
        if not (cursor := page["next_cursor"]):
            return out


def _finished(http: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    deadline = time.time() + 60
    while job["state"] in ("queued", "running"):
        assert time.time() < deadline, job
        time.sleep(0.2)
        job = http.get(f"/v1/pricing/recost/{job['id']}").json()
    assert job["state"] == "done", job
    return job


def _totals(http: httpx.Client, by: str = "model_id") -> dict[str, dict[str, Any]]:
    """Cost and unpriced calls by `by` over whole hours (read from the rollups)."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    params = {"from": (end - 12 * DAY).isoformat(), "to": end.isoformat(), "group_by": by}
    answer = http.get("/v1/metrics/summary", params=params).json()
    groups = answer["groups"] if "groups" in answer else pytest.fail(str(answer))
    return {g["key"][by]: g for g in groups}


def test_overrides_recost_exactly_the_calls_in_range(server: Server) -> None:
    key = new_project_key(server, admin=True)
    now = datetime.now(UTC) - timedelta(minutes=1)
    sent = _events(now)
    acme_from = (now - 4 * DAY).replace(microsecond=0)
    gpt_from = (now - 2 * DAY).replace(microsecond=0)
    acme = {"input": 1.0, "output": 2.0, "cached": 1.0, "reasoning": 2.0}
    gpt = {"input": 0.5, "output": 1.0, "cached": 0.25, "reasoning": 3.0}
    with server.client(key) as http:
        assert http.post("/v1/events", json=sent).status_code == 202
        server.wait_loaded()
        before = _stored(http)
        assert _totals(http)["acme-llm"]["unpriced"] == 240
        # An unpriced model's cost is unknown, never $0: no saving is computed against it.
        unknown = http.get("/v1/costs/recommendations", params={"from": "-11d"}).json()
        unpriced = [g for g in unknown["groups"] if g["model_id"] == "acme-llm" and g["feature"]]
        assert unpriced and all(g["cost_usd"] is None for g in unpriced)
        assert all(c["reasons"] == ["acme-llm's calls here are unpriced"]
                   for g in unpriced for c in g["candidates"])  # fmt: skip

        put = http.put(
            "/v1/pricing/overrides",
            json={"model": "acme-llm", "input": 1.0, "output": 2.0, "from": acme_from.isoformat()},
        )
        assert put.status_code == 200, put.text
        assert put.json()["warnings"] == []
        first = _finished(http, put.json()["recost"])
        put = http.put(
            "/v1/pricing/overrides",
            json={"model": "gpt-4o*", **gpt, "from": gpt_from.isoformat()},
        )
        second = _finished(http, put.json()["recost"])
        after = _stored(http)
        totals = _totals(http)
        by_feature = _totals(http, "feature")
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        window = {"from": (end - 12 * DAY).isoformat(), "to": end.isoformat()}
        advice = http.get("/v1/costs/recommendations", params=window).json()["groups"]
        again = http.post("/v1/pricing/recost", json={"from": (now - 20 * DAY).isoformat()})
        assert again.status_code == 202
        repeated = _finished(http, again.json())
        totals_again = _totals(http)
        listed = http.get("/v1/pricing/overrides").json()["overrides"]

    expected: dict[str, tuple[float | None, str]] = {}
    for e in sent:
        ts, event_id = datetime.fromisoformat(e["ts"]), e["event_id"]
        if "cost_usd" in e:
            expected[event_id] = (0.25, "reported")
        elif e["model_id"] == "acme-llm":
            priced = ts >= acme_from
            expected[event_id] = (_price(e, acme), "override") if priced else (None, "unpriced")
        elif ts >= gpt_from:
            expected[event_id] = (_price(e, gpt), "override")
        else:
            expected[event_id] = (_catalogue(e), "catalogue")
    for event_id, (cost, source) in expected.items():
        got = after[event_id]
        assert got["cost_source"] == source, got
        assert got["cost_usd"] == (None if cost is None else pytest.approx(cost, rel=1e-9)), got
    changed = [i for i in expected if before[i]["cost_usd"] != after[i]["cost_usd"]]
    acme_in_range = sum(1 for e in sent if e["model_id"] == "acme-llm" and "cost_usd" not in e
                        and datetime.fromisoformat(e["ts"]) >= acme_from)  # fmt: skip
    gpt_in_range = sum(1 for e in sent if e["model_id"] == "gpt-4o"
                       and datetime.fromisoformat(e["ts"]) >= gpt_from)  # fmt: skip
    assert first["changed"] == acme_in_range
    assert second["changed"] == gpt_in_range
    assert len(changed) == acme_in_range + gpt_in_range
    assert repeated["changed"] == 0  # idempotent

    # The rollups moved with the calls: whole-hour totals equal the sum of stored costs.
    for model in ("gpt-4o", "acme-llm"):
        costs = [c for i, (c, _) in expected.items() if after[i]["model_id"] == model]
        assert totals[model]["cost_usd"] == pytest.approx(sum(c for c in costs if c), rel=1e-9)
        assert totals[model]["unpriced"] == sum(1 for c in costs if c is None)
        assert totals_again[model]["cost_usd"] == pytest.approx(totals[model]["cost_usd"])
    for group in advice:  # and the cost rollup, by feature and model
        costs = [c for i, (c, _) in expected.items()
                 if (after[i].get("feature"), after[i]["model_id"]) == (group["feature"],
                                                                        group["model_id"])]  # fmt: skip
        assert group["cost_usd"] == pytest.approx(sum(c for c in costs if c), rel=1e-9)
        assert group["unpriced"] == sum(1 for c in costs if c is None)
    assert len(advice) == 5  # chat and search for both models, and the reported call
    for feature in ("chat", "search"):  # the per-dimension rollup too
        costs = [c for i, (c, _) in expected.items() if after[i].get("feature") == feature]
        assert by_feature[feature]["cost_usd"] == pytest.approx(sum(c for c in costs if c))
        assert by_feature[feature]["unpriced"] == sum(1 for c in costs if c is None)
    assert {o["model"] for o in listed} == {"acme-llm", "gpt-4o*"}


def test_new_calls_are_priced_by_the_override_at_ingest(server: Server) -> None:
    key = new_project_key(server, admin=True)
    with server.client(key) as http:
        put = http.put("/v1/pricing/overrides",
                       json={"model": "brand-new-model", "input": 3, "output": 4}).json()  # fmt: skip
        assert len(put["warnings"]) == 1 and "brand-new-model" in put["warnings"][0]
        event = {"model_id": "brand-new-model", "latency_ms": 3, "tokens_in": 10,
                 "tokens_out": 20, "event_id": str(uuid.uuid4())}  # fmt: skip
        assert http.post("/v1/events", json=[event]).status_code == 202
        server.wait_loaded()
        stored = http.get(f"/v1/requests/{event['event_id']}").json()
        assert stored["cost_source"] == "override"
        assert stored["cost_usd"] == pytest.approx((10 * 3 + 20 * 4) / 1e6)
        # Removing the override re-costs the call: unpriced again, never $0.
        gone = http.delete(f"/v1/pricing/overrides/{put['override']['id']}")
        assert gone.status_code == 200
        _finished(http, gone.json()["recost"])
        stored = http.get(f"/v1/requests/{event['event_id']}").json()
        assert (stored["cost_source"], stored["cost_usd"]) == ("unpriced", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "m", "input": -1, "output": 1}, "input"),
        ({"model": "m", "input": "cheap", "output": 1}, "input"),
        ({"model": "m", "input": 1}, "output"),
        ({"model": "", "input": 1, "output": 1}, "model"),
        ({"model": "m", "input": 1, "output": 1, "from": "yesterday-ish"}, "from"),
        ({"model": "m", "input": 1, "output": 1, "cached": float("nan")}, "cached"),
    ],
)
def test_bad_overrides_are_422_naming_the_field(
    server: Server, admin_key: str, body: dict[str, Any], field: str
) -> None:
    with server.client(admin_key) as http:
        r = http.put("/v1/pricing/overrides", content=_json(body),
                     headers={"Content-Type": "application/json"})  # fmt: skip
        assert r.status_code == 422, r.text
        assert [d["field"] for d in r.json()["detail"]] == [field]
        assert http.get("/v1/pricing/overrides").json()["overrides"] == []


def _json(body: dict[str, Any]) -> str:
    import json

    return json.dumps(body).replace("NaN", '"NaN"')


def test_bad_recost_requests(server: Server, admin_key: str) -> None:
    with server.client(admin_key) as http:
        r = http.post("/v1/pricing/recost", json={"from": "2026-01-02", "to": "2026-01-01"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "to"
        r = http.post("/v1/pricing/recost", json={})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "from"
        assert http.get("/v1/pricing/recost/nope").status_code == 404
        assert http.delete("/v1/pricing/overrides/nope@0").status_code == 404


def test_pricing_cli_sets_lists_recosts_and_refuses_bad_prices(server: Server) -> None:
    from conftest import run_cli

    key = new_project_key(server, admin=True)
    env = {**os.environ, "LLMPULSE_URL": server.url, "LLMPULSE_API_KEY": key}
    event = {"model_id": "cli-model", "latency_ms": 3, "tokens_in": 1000, "tokens_out": 500,
             "event_id": str(uuid.uuid4())}  # fmt: skip
    with server.client(key) as http:
        assert http.post("/v1/events", json=[event]).status_code == 202
        server.wait_loaded()
    out = run_cli("pricing", "set", "cli-model", "--input", "2", "--output", "8", env=env)
    assert out.returncode == 0, out.stderr
    assert "re-costed 1 call:" in out.stdout
    listed = run_cli("pricing", "list", env=env)
    assert "cli-model" in listed.stdout
    again = run_cli("pricing", "recost", "--from", "2020-01-01", env=env)
    assert again.returncode == 0 and "re-costed 0 calls" in again.stdout
    with server.client(key) as http:
        stored = http.get(f"/v1/requests/{event['event_id']}").json()
    assert stored["cost_usd"] == pytest.approx((1000 * 2 + 500 * 8) / 1e6)
    bad = run_cli("pricing", "set", "cli-model", "--input", "-1", "--output", "8", env=env)
    assert bad.returncode == 2 and "Invalid value for '--input'" in bad.stderr
    bad = run_cli("pricing", "set", "cli-model", "--input", "1", "--output", "8",
                  "--from", "soon", env=env)  # fmt: skip
    assert bad.returncode == 1 and "from:" in bad.stderr and "Traceback" not in bad.stderr

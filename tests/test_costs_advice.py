"""Cost advice on known traffic: model B is 40% cheaper; in one feature it is as good as A
(recommended), in another its error rate is worse (withheld). Expected figures are
computed here from the events sent."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats

from conftest import Server, new_project_key

PRICES = {"model-a": (1.0, 2.0), "model-b": (0.6, 1.2)}  # USD per million in, out
DAYS = 10
PER_DAY = 150


def _calls(feature: str, model: str, day0: datetime, error_every: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)  # the same latencies for both models
    out = []
    for i in range(DAYS * PER_DAY):
        ts = day0 + timedelta(days=i // PER_DAY, seconds=(i % PER_DAY) * 500 + 1)
        out.append(
            {
                "event_id": str(uuid.uuid4()),
                "ts": ts.isoformat(),
                "model_id": model,
                "feature": feature,
                "latency_ms": float(round(800 * math.exp(0.2 * rng.standard_normal()), 3)),
                "tokens_in": 500 + (i * 37) % 400,
                "tokens_out": 100 + (i * 13) % 200,
                "status": "error" if i % error_every == 0 else "ok",
            }
        )
    return out


def _cost(e: dict[str, Any], model: str) -> float:
    price_in, price_out = PRICES[model]
    return (e["tokens_in"] * price_in + e["tokens_out"] * price_out) / 1e6


@pytest.fixture(scope="module")
def advised(server: Server) -> dict[str, Any]:
    key = new_project_key(server, admin=True)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = today - timedelta(days=DAYS)
    sent = (
        _calls("summarize", "model-a", day0, 100)
        + _calls("summarize", "model-b", day0, 100)
        + _calls("extract", "model-a", day0, 100)
        + _calls("extract", "model-b", day0, 16)
    )
    with server.client(key) as http:
        for model, (price_in, price_out) in PRICES.items():
            body = {"model": model, "input": price_in, "output": price_out}
            assert http.put("/v1/pricing/overrides", json=body).status_code == 200
        for i in range(0, len(sent), 2000):
            assert http.post("/v1/events", json=sent[i : i + 2000]).status_code == 202
        server.wait_loaded()
        params = {"from": day0.isoformat(), "to": today.isoformat()}
        answer = http.get("/v1/costs/recommendations", params=params).json()
    return {"sent": sent, "answer": answer, "key": key}


def _group(answer: dict[str, Any], feature: str, model: str) -> dict[str, Any]:
    return next(g for g in answer["groups"] if (g["feature"], g["model_id"]) == (feature, model))


def test_a_cheaper_equally_good_model_is_recommended_with_its_saving(
    advised: dict[str, Any],
) -> None:
    answer, sent = advised["answer"], advised["sent"]
    assert answer["days"] == DAYS
    [made] = answer["recommended"]
    assert (made["feature"], made["model_id"], made["candidate"]) == (
        "summarize",
        "model-a",
        "model-b",
    )
    calls = [e for e in sent if (e["feature"], e["model_id"]) == ("summarize", "model-a")]
    current = np.array([_cost(e, "model-a") for e in calls])
    repriced = np.array([_cost(e, "model-b") for e in calls])
    assert made["cost_usd"] == pytest.approx(repriced.sum())
    assert made["saving_usd"] == pytest.approx(current.sum() - repriced.sum())
    assert made["saving_share"] == pytest.approx(0.4)
    daily = (current - repriced).reshape(DAYS, PER_DAY).sum(axis=1)
    half = stats.t.ppf(0.975, DAYS - 1) * daily.std(ddof=1) / math.sqrt(DAYS)
    month = 30.4375
    assert made["monthly_saving"]["value"] == pytest.approx(daily.mean() * month)
    assert made["monthly_saving"]["ci"] == pytest.approx(
        [(daily.mean() - half) * month, (daily.mean() + half) * month]
    )
    assert made["error_rate"]["diff"] == pytest.approx(0.0)
    assert made["reasons"] == []
    assert answer["monthly_saving"] == pytest.approx(made["monthly_saving"]["value"])
    assert "feature=summarize" in made["events"] and "model_id=model-b" in made["events"]


def test_a_cheaper_model_with_more_errors_is_withheld(advised: dict[str, Any]) -> None:
    answer, sent = advised["answer"], advised["sent"]
    extract = _group(answer, "extract", "model-a")
    [b] = extract["candidates"]
    assert b["verdict"] == "withheld"
    assert any("error rate" in r for r in b["reasons"]), b["reasons"]
    errors_b = sum(1 for e in sent if (e["feature"], e["model_id"], e["status"]) ==
                   ("extract", "model-b", "error"))  # fmt: skip
    assert b["error_rate"]["value"] == pytest.approx(errors_b / (DAYS * PER_DAY))
    assert b["saving_share"] == pytest.approx(0.4)  # cheaper, still withheld
    # The other way round, A is dearer: never recommended.
    [a] = _group(answer, "summarize", "model-b")["candidates"]
    assert a["verdict"] == "withheld" and a["saving_usd"] < 0
    assert any("not surely cheaper" in r for r in a["reasons"])


def test_recommendations_bad_input(server: Server, project_key: str) -> None:
    with server.client(project_key) as http:
        for params, field in (
            ({"by": "region"}, "by"),
            ({"min_calls": "0"}, "min_calls"),
            ({"error_margin": "-1"}, "error_margin"),
            ({"confidence": "2"}, "confidence"),
            ({"from": "yesterday"}, "from"),
        ):
            r = http.get("/v1/costs/recommendations", params=params)
            assert r.status_code == 400, r.text
            assert r.json()["detail"][0]["field"] == field


ROUTING_PRICES = {"primary-m": (1.0, 2.0), "backup-m": (2.0, 4.0)}
BAD_HOURS = (14, 15, 16)


def _routing_calls(day0: datetime) -> list[dict[str, Any]]:
    """Three days: the primary fails half its calls (rate limits) at 14-16h UTC and one in
    sixty otherwise; the backup, pricier, fails one call in forty."""
    out = []
    for day in range(3):
        for hour in range(24):
            start = day0 + timedelta(days=day, hours=hour)
            for i in range(60):
                bad = (hour in BAD_HOURS and i % 2 == 0) or i == 0
                out.append({"model_id": "primary-m", "provider": "acme", "feature": "chat",
                            "ts": (start + timedelta(minutes=i)).isoformat(),
                            "latency_ms": 300, "tokens_in": 400 + i, "tokens_out": 100,
                            **({"status": "error", "error_type": "rate_limit"} if bad else {})})  # fmt: skip
            for i in range(20):
                n = (day * 24 + hour) * 20 + i
                out.append({"model_id": "backup-m", "provider": "beta", "feature": "chat",
                            "ts": (start + timedelta(minutes=3 * i + 1)).isoformat(),
                            "latency_ms": 500, "tokens_in": 400, "tokens_out": 100,
                            **({"status": "error", "error_type": "server_error"}
                               if n % 40 == 0 else {})})  # fmt: skip
    burst = day0 + timedelta(days=1, hours=9, minutes=30)  # 30 more calls in one minute
    out += [{"model_id": "primary-m", "provider": "acme", "feature": "chat", "latency_ms": 300,
             "ts": (burst + timedelta(seconds=i)).isoformat(), "tokens_in": 1000,
             "tokens_out": 10} for i in range(30)]  # fmt: skip
    return out


@pytest.fixture(scope="module")
def routed(server: Server) -> dict[str, Any]:
    key = new_project_key(server, admin=True)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = today - timedelta(days=3)
    sent = _routing_calls(day0)
    with server.client(key) as http:
        for model, (price_in, price_out) in ROUTING_PRICES.items():
            body = {"model": model, "input": price_in, "output": price_out}
            assert http.put("/v1/pricing/overrides", json=body).status_code == 200
        assert http.put("/v1/costs/capacity/limits/acme", json={"rpm": 100}).status_code == 200
        for i in range(0, len(sent), 2000):
            assert http.post("/v1/events", json=sent[i : i + 2000]).status_code == 202
        server.wait_loaded()
        params = {"from": day0.isoformat(), "to": today.isoformat()}
        routing = http.get("/v1/costs/routing", params=params).json()
        capacity = http.get("/v1/costs/capacity", params=params).json()
    return {"sent": sent, "routing": routing, "capacity": capacity}


def test_provider_profile_finds_the_rate_limit_hours(routed: dict[str, Any]) -> None:
    acme = next(p for p in routed["routing"]["providers"] if p["provider"] == "acme")
    assert set(acme["worst_hours"]) == set(BAD_HOURS)
    primary = [e for e in routed["sent"] if e["model_id"] == "primary-m"]
    limited = sum(1 for e in primary if e.get("error_type") == "rate_limit")
    assert acme["calls"] == len(primary)
    assert acme["rate_limit_rate"] == pytest.approx(limited / len(primary))
    by_hour = {h["hour"]: h for h in acme["by_hour"]}
    at_15 = [e for e in primary if datetime.fromisoformat(e["ts"]).hour == 15]
    errors_15 = sum(1 for e in at_15 if e.get("status") == "error")
    assert by_hour[15]["error_rate"] == pytest.approx(errors_15 / len(at_15))


def test_fallback_rule_replayed_on_the_stored_calls(routed: dict[str, Any]) -> None:
    sent = routed["sent"]
    backup = [e for e in sent if e["model_id"] == "backup-m"]
    backup_rate = sum(1 for e in backup if e.get("status") == "error") / len(backup)
    windows: dict[datetime, list[dict[str, Any]]] = {}
    for e in sent:
        if e["model_id"] == "primary-m":
            ts = datetime.fromisoformat(e["ts"])
            windows.setdefault(ts.replace(minute=0, second=0, microsecond=0), []).append(e)

    def replay(threshold: float) -> tuple[float, float, int]:
        avoided = delta = 0.0
        calls = 0
        for w, calls_w in windows.items():
            before = windows.get(w - timedelta(hours=1))
            if (
                not before
                or sum(e.get("status") == "error" for e in before) / len(before) <= threshold
            ):
                continue
            calls += len(calls_w)
            avoided += sum(e.get("status") == "error" for e in calls_w) - len(calls_w) * backup_rate
            for e in calls_w:
                delta += (e["tokens_in"] * 2.0 + e["tokens_out"] * 4.0) / 1e6
                delta -= (e["tokens_in"] * 1.0 + e["tokens_out"] * 2.0) / 1e6
        return avoided, delta, calls

    [route] = routed["routing"]["routes"]
    assert (route["feature"], route["model_id"], route["fallback"]) == ("chat", "primary-m",
                                                                        "backup-m")  # fmt: skip
    for replayed in route["thresholds"]:
        avoided, delta, calls = replay(replayed["threshold"])
        assert replayed["errors_avoided"] == pytest.approx(avoided)
        assert replayed["cost_delta_usd"] == pytest.approx(delta)
        assert replayed["calls_routed"] == calls
    best = max(route["thresholds"], key=lambda r: r["errors_avoided"])
    assert route["threshold"] == best["threshold"] and route["errors_avoided"] > 0
    assert route["fallback_error_rate"] == pytest.approx(backup_rate)


def test_capacity_peaks_against_the_limit(routed: dict[str, Any]) -> None:
    per_minute: dict[tuple[str, str], int] = {}
    for e in routed["sent"]:
        if e["provider"] == "acme":
            minute = e["ts"][:16]
            per_minute[(minute[:10], minute)] = per_minute.get((minute[:10], minute), 0) + 1
    peak = max(per_minute.values())
    acme = next(p for p in routed["capacity"]["providers"] if p["provider"] == "acme")
    assert acme["peak_rpm"] == peak
    assert acme["limits"]["rpm"] == 100 and acme["rpm_used"] == pytest.approx(peak / 100)
    assert acme["tpm_used"] is None  # no token limit configured
    assert len(acme["daily_peaks"]) == 3


def test_prompt_caching_opportunity(server: Server) -> None:
    key = new_project_key(server, admin=True)
    now = datetime.now(UTC) - timedelta(minutes=5)
    prompts = [3000, 3200, 3100, 3500, 3050]
    calls = [{"model_id": "cache-m", "latency_ms": 5, "tokens_in": t, "tokens_out": 10,
              "tokens_cached": 1000 if i == 4 else 0, "prompt_prefix_hash": "aaa",
              "ts": now.isoformat()} for i, t in enumerate(prompts)]  # fmt: skip
    calls += [{"model_id": "cache-m", "latency_ms": 5, "tokens_in": 900, "tokens_out": 10,
               "prompt_prefix_hash": h, "ts": now.isoformat()} for h in ("bbb", "")]  # fmt: skip
    with server.client(key) as http:
        body = {"model": "cache-m", "input": 2.0, "output": 8.0, "cached": 0.5}
        assert http.put("/v1/pricing/overrides", json=body).status_code == 200
        assert http.post("/v1/events", json=calls).status_code == 202
        server.wait_loaded()
        [model] = http.get("/v1/costs/caching", params={"from": "-1h"}).json()["models"]
    cacheable = (len(prompts) - 1) * min(prompts) - 1000
    assert model["cacheable_tokens"] == cacheable
    assert model["saving_usd"] == pytest.approx(cacheable * (2.0 - 0.5) / 1e6)
    assert model["share"] == pytest.approx(sum(prompts) / (sum(prompts) + 2 * 900))
    assert model["cached_price_discount"] == pytest.approx(0.75)
    assert [p["prompt_prefix_hash"] for p in model["prefixes"]] == ["aaa"]


def test_routing_and_capacity_bad_input(server: Server, project_key: str) -> None:
    with server.client(project_key) as http:
        for path, params, field in (
            ("/v1/costs/routing", {"window": "1s"}, "window"),
            ("/v1/costs/routing", {"thresholds": "a,b"}, "thresholds"),
            ("/v1/costs/routing", {"thresholds": "2"}, "thresholds"),
            ("/v1/costs/capacity", {"horizon": "999d"}, "horizon"),
        ):
            r = http.get(path, params=params)
            assert r.status_code in (400, 422), r.text
            assert r.json()["detail"][0]["field"] == field
    with server.client(project_key) as http:
        r = http.put("/v1/costs/capacity/limits/acme", json={})
        assert r.status_code == 403  # a read-and-ingest key cannot configure


def test_price_bands_hold_every_tier_of_the_catalogue() -> None:
    """The cost rollup sums tokens per price band; a tier start the bands lack would make
    re-priced costs inexact, so a catalogue update that adds one fails here."""
    import re
    from importlib import resources

    from genai_prices import data
    from genai_prices.types import TieredPrices

    from llmpulse.query.aggregates import BAND_EDGES

    starts = set()
    for provider in data.providers:
        for model in provider.models:
            prices = model.prices if isinstance(model.prices, list) else [model.prices]
            for price in prices:
                price = getattr(price, "prices", price)  # conditional prices wrap theirs
                for value in vars(price).values():
                    if isinstance(value, TieredPrices):
                        starts.update(tier.start for tier in value.tiers)
    assert starts and starts <= set(BAND_EDGES)
    sql = (resources.files("llmpulse.store.migrations") / "012_cost_rollup.sql").read_text()
    literal = re.search(r"tokens_in > edge, \[([\d, ]+)\]", sql)
    assert literal is not None
    assert tuple(int(x) for x in literal[1].split(",")) == BAND_EDGES

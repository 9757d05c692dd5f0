"""Drift over HTTP on simulated traffic with known shifts injected: each shift is found, an
unshifted control is not, and the statistics equal scipy's on the same rows (the windows
are smaller than the sample, so the report sees every call)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from conftest import Server, new_project_key
from llmpulse.sim.traffic import ModelProfile, Shift, TrafficGenerator

EVENTS = 5000  # over 14 days: 2,500 a side
NEW_MODEL = ModelProfile("gpt-5", "openai", 900, 0.4, 300, 700, 260, 1.0, 0.15)


def _send(server: Server, generator: TrafficGenerator, now: datetime) -> tuple[str, list[dict]]:
    key = new_project_key(server)
    start = now - timedelta(days=14)
    step = timedelta(days=14) / EVENTS
    events = [generator.event(start + step * (i + 0.5)) for i in range(EVENTS)]
    with server.client(key) as http:
        for i in range(0, len(events), 2000):
            assert http.post("/v1/events", json=events[i : i + 2000]).status_code == 202
    return key, events


@pytest.fixture(scope="module")
def traffic(server: Server) -> dict[str, Any]:
    """Three projects: a control without shifts; one where, a week ago, a new model came
    and prompt version pv_3 began to refuse; one where gpt-4o became 1.5 times slower."""
    # At midnight: the simulator's traffic then is the same whatever the date (it depends
    # on days relative to today), so the control's statistics are too.
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    shift_at = now - timedelta(days=7)
    made = {}
    for name, shifts in (
        ("control", ()),
        ("mix", (Shift(shift_at, new_model=NEW_MODEL),
                 Shift(shift_at, prompt_version="pv_3", refusal_rate=0.3))),
        ("slower", (Shift(shift_at, model_id="gpt-4o", latency_factor=1.5),)),
        ("slower_with_timeouts", (Shift(shift_at, model_id="gpt-4o", latency_factor=1.5),)),
    ):  # fmt: skip
        errors = 0.05 if name.endswith("timeouts") else 0.0
        generator = TrafficGenerator(seed=5, users=200, error_rate=errors, text=True, shifts=shifts)
        made[name] = _send(server, generator, now)
    server.wait_loaded()
    return {"now": now, **made}


def _window(start: datetime, end: datetime) -> str:
    return f"{start.isoformat()}..{end.isoformat()}"


def _weeks(now: datetime) -> dict[str, str]:
    """The last week against the one before, fixed at the time the traffic was made."""
    week = timedelta(days=7)
    return {"reference": _window(now - 2 * week, now - week), "current": _window(now - week, now)}


def _t(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))


def _drift(server: Server, key: str, status: int = 200, **params: Any) -> dict[str, Any]:
    with server.client(key) as http:
        answer = http.get("/v1/drift", params=params)
    assert answer.status_code == status, answer.text
    return dict(answer.json())


def _shares(column: dict[str, Any], side: str = "current") -> dict[str | None, float]:
    """A category column's shares on one side, by category."""
    d = column["distribution"]
    return dict(zip(d["categories"], d[side], strict=True))


def _columns(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["column"]: c for c in report["columns"]}


def _sides(events: list[dict], now: datetime) -> tuple[list[dict], list[dict]]:
    middle = now - timedelta(days=7)
    return [e for e in events if _t(e) < middle], [e for e in events if _t(e) >= middle]


def js_distance(ref: list[str], cur: list[str]) -> float:
    """Jensen-Shannon distance as Evidently bins categories: shares over the union, an
    empty one at 0.0001."""
    keys = sorted(set(ref) | set(cur))
    r = np.array([ref.count(k) for k in keys]) / len(ref)
    c = np.array([cur.count(k) for k in keys]) / len(cur)
    return float(distance.jensenshannon(np.where(r == 0, 1e-4, r), np.where(c == 0, 1e-4, c)))


def test_control_period_shows_no_drift(server: Server, traffic: dict[str, Any]) -> None:
    key, events = traffic["control"]
    report = _drift(server, key, **_weeks(traffic["now"]))
    assert report["status"] == "ok"
    ref, cur = _sides(events, traffic["now"])
    assert report["reference"]["events"] == len(ref)
    assert report["current"]["events"] == len(cur)
    drifted = [c["column"] for c in report["columns"] if c["drifted"]]
    assert drifted == [] and report["dataset_drift"] is False
    columns = _columns(report)
    # Large windows: Wasserstein (normed) and Jensen-Shannon, as scipy has them here.
    lat_ref = np.array([e["latency_ms"] for e in ref])
    lat_cur = np.array([e["latency_ms"] for e in cur])
    expected = stats.wasserstein_distance(lat_ref, lat_cur) / np.std(lat_ref)
    assert columns["latency_ms"]["test"] == "wasserstein"
    assert columns["latency_ms"]["score"] == pytest.approx(expected, abs=1e-5)
    models = columns["model_id"]
    assert models["test"] == "jensenshannon"
    expected = js_distance([e["model_id"] for e in ref], [e["model_id"] for e in cur])
    assert models["score"] == pytest.approx(expected, abs=1e-5)
    # Both distributions for plotting: the category shares as counted here.
    assert _shares(models)["gpt-4o"] == pytest.approx(
        sum(e["model_id"] == "gpt-4o" for e in cur) / len(cur), abs=1e-6
    )
    # Text descriptors computed at ingest from the prompt and completion.
    chars = columns["completion_chars"]
    assert chars["current_count"] == len(cur)
    assert chars["status"] == "ok" and columns["language"]["status"] == "ok"
    assert columns["json_valid"]["status"] == "no_data"  # nothing asked for JSON


def test_new_model_and_refusals_are_found_with_their_slices(
    server: Server, traffic: dict[str, Any]
) -> None:
    key, events = traffic["mix"]
    report = _drift(server, key, **_weeks(traffic["now"]))
    columns = _columns(report)
    assert columns["model_id"]["drifted"] is True
    ref, cur = _sides(events, traffic["now"])
    expected = js_distance([e["model_id"] for e in ref], [e["model_id"] for e in cur])
    assert columns["model_id"]["score"] == pytest.approx(expected, abs=1e-5)
    refusal = columns["refusal"]
    assert refusal["drifted"] is True
    refused = [str(e["completion"].startswith("I'm sorry")).lower() for e in cur]
    assert refusal["distribution"]["current"][
        refusal["distribution"]["categories"].index("true")
    ] == (pytest.approx(refused.count("true") / len(refused), abs=1e-6))
    top = refusal["slices"][0]
    assert (top["dimension"], top["value"]) == ("prompt_version", "pv_3")
    assert top["share_of_shift"] > 0.8
    # Day by day: every day of the current week drifted on refusals, against the threshold.
    points = refusal["over_time"]
    assert len(points) >= 7 and all(p["drifted"] for p in points if p["values"] >= 100)


def test_slower_model_is_found_and_blamed(server: Server, traffic: dict[str, Any]) -> None:
    key, events = traffic["slower"]
    weeks = _weeks(traffic["now"])
    report = _drift(server, key, columns="latency_ms,ttft_ms,model_id", **weeks)
    columns = _columns(report)
    assert columns["latency_ms"]["drifted"] is True
    assert columns["model_id"]["drifted"] is False
    # Without gpt-4o most of the shift is gone (what stays is two samples' noise); without
    # its provider too (that removes it as well); no other model comes close.
    slices = columns["latency_ms"]["slices"]
    top = (slices[0]["dimension"], slices[0]["value"])
    assert top in {("model_id", "gpt-4o"), ("provider", "openai")}
    share = {(s["dimension"], s["value"]): s["share_of_shift"] for s in slices}
    assert share[("model_id", "gpt-4o")] > 0.5
    others = [v for (d, name), v in share.items() if d == "model_id" and name != "gpt-4o"]
    assert all(v < 0.2 for v in others)
    # The same model alone, through a filter: under 1,000 reference calls, so KS; its
    # statistic is scipy's.
    alone = _columns(_drift(server, key, columns="latency_ms", model_id="gpt-4o", **weeks))
    alone = alone["latency_ms"]
    ref, cur = _sides([e for e in events if e["model_id"] == "gpt-4o"], traffic["now"])
    assert alone["reference_count"] == len(ref) <= 1000
    expected = stats.ks_2samp([e["latency_ms"] for e in ref], [e["latency_ms"] for e in cur])
    assert alone["test"] == "ks" and alone["drifted"] is True
    assert alone["score"] == pytest.approx(expected.pvalue, abs=1e-6)


def test_slower_model_behind_timeouts_shows_in_successful_latency(
    server: Server, traffic: dict[str, Any]
) -> None:
    """With timeouts (30-60 s) in both weeks, the normed Wasserstein distance of all
    latencies barely moves; that of successful calls finds the slower model."""
    key, events = traffic["slower_with_timeouts"]
    columns = _columns(
        _drift(server, key, columns="latency_ms,latency_ok_ms", **_weeks(traffic["now"]))
    )
    ref, cur = _sides(events, traffic["now"])
    expected = {}
    for column, keep in (
        ("latency_ms", lambda e: True),
        ("latency_ok_ms", lambda e: e["status"] == "ok"),
    ):
        r = np.array([e["latency_ms"] for e in ref if keep(e)])
        c = np.array([e["latency_ms"] for e in cur if keep(e)])
        expected[column] = stats.wasserstein_distance(r, c) / np.std(r)
        assert columns[column]["score"] == pytest.approx(expected[column], abs=1e-5)
    assert columns["latency_ok_ms"]["current_count"] == sum(e["status"] == "ok" for e in cur)
    assert columns["latency_ms"]["drifted"] is False and expected["latency_ms"] < 0.1
    assert columns["latency_ok_ms"]["drifted"] is True


def test_small_reference_uses_ks_and_chisquare(server: Server, traffic: dict[str, Any]) -> None:
    """A reference of 1,000 calls or fewer: KS for numbers, chi-square (or z for two
    values) for categories, p-values against 0.05."""
    key, events = traffic["slower"]
    now = traffic["now"]
    ref_span = (now - timedelta(days=13), now - timedelta(days=12))
    cur_span = (now - timedelta(days=2), now - timedelta(days=1))
    report = _drift(
        server, key, columns="latency_ms,prompt_version,refusal",
        reference=_window(*ref_span), current=_window(*cur_span),
    )  # fmt: skip
    ref = [e for e in events if ref_span[0] <= _t(e) < ref_span[1]]
    cur = [e for e in events if cur_span[0] <= _t(e) < cur_span[1]]
    columns = _columns(report)
    latency = columns["latency_ms"]
    assert latency["test"] == "ks" and latency["score_type"] == "p_value"
    expected = stats.ks_2samp([e["latency_ms"] for e in ref], [e["latency_ms"] for e in cur])
    assert latency["score"] == pytest.approx(expected.pvalue, abs=1e-5)
    assert latency["drifted"] is bool(expected.pvalue < 0.05)
    versions = columns["prompt_version"]
    assert versions["test"] == "chisquare"
    keys = sorted({e["prompt_version"] for e in ref + cur})
    observed = np.array([sum(e["prompt_version"] == k for e in cur) for k in keys])
    expected_counts = np.array([sum(e["prompt_version"] == k for e in ref) for k in keys]) * (
        len(cur) / len(ref)
    )
    assert versions["score"] == pytest.approx(
        stats.chisquare(observed, expected_counts).pvalue, abs=1e-5
    )
    assert columns["refusal"]["test"] == "z"


def test_experiment_variants_and_overrides(server: Server, traffic: dict[str, Any]) -> None:
    """Variant B (20% faster in the simulator) against A over the same days, with PSI
    asked for instead of the default test and a threshold of its own."""
    key, events = traffic["control"]
    report = _drift(
        server, key, reference="experiment:reranker_v2:A", current="experiment:B",
        columns="latency_ms,tokens_out", tests="latency_ms:psi", thresholds="tokens_out:0.5",
        **{"from": "-15d"},
    )  # fmt: skip
    columns = _columns(report)
    assert report["reference"]["events"] == sum(e["experiment"]["variant"] == "A" for e in events)
    assert columns["latency_ms"]["test"] == "psi"
    a = np.array([e["latency_ms"] for e in events if e["experiment"]["variant"] == "A"])
    b = np.array([e["latency_ms"] for e in events if e["experiment"]["variant"] == "B"])
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    r, c = (np.histogram(x, edges)[0] / len(x) for x in (a, b))
    r, c = np.where(r == 0, 1e-4, r), np.where(c == 0, 1e-4, c)
    psi = float(np.sum((r - c) * np.log(r / c)))
    assert columns["latency_ms"]["score"] == pytest.approx(psi, abs=1e-5)
    assert columns["latency_ms"]["drifted"] is (psi >= 0.1)
    assert columns["tokens_out"]["threshold"] == 0.5


def test_bad_input_is_named(server: Server, traffic: dict[str, Any]) -> None:
    key, _ = traffic["control"]
    unknown = _drift(server, key, 422, columns="latency_ms,vibes")
    assert unknown["detail"][0]["field"] == "columns"
    assert "vibes" in unknown["error"] and "ttft_ms" in unknown["error"]
    overlap = _drift(server, key, 422, reference="-10d..-3d", current="-5d..now")
    assert overlap["detail"][0]["field"] == "current" and "overlaps" in overlap["error"]
    same = _drift(server, key, 422, reference="experiment:A", current="experiment:A")
    assert same["detail"][0]["field"] == "current"
    # A variant against a window over the same days would count its calls on both sides.
    mixed = _drift(server, key, 422, reference="experiment:A", current="-12h..now")
    assert "overlaps" in mixed["error"]
    shape = _drift(server, key, 422, reference="last week")
    assert shape["detail"][0]["field"] == "reference"
    backwards = _drift(server, key, 422, reference="-7d..-14d")
    assert "before" in backwards["error"]
    assert _drift(server, key, 422, tests="latency_ms:magic")["detail"][0]["field"] == "tests"
    assert _drift(server, key, 422, tests="model_id:ks")["detail"][0]["field"] == "tests"
    assert _drift(server, key, 422, thresholds="latency_ms:x")["detail"][0]["field"] == "thresholds"
    assert _drift(server, key, 400, sample="5")["detail"][0]["field"] == "sample"
    # An empty window: 200, insufficient_data, the counts, no NaN anywhere.
    empty = _drift(server, key, reference="-60d..-50d")
    assert empty["status"] == "insufficient_data" and empty["reference"]["events"] == 0
    assert empty["current"]["events"] > 0 and empty["columns"] == []
    with server.client(key) as http:
        assert http.get("/health").status_code == 200


def test_text_descriptors_are_computed_at_ingest(server: Server) -> None:
    """JSON validity only when JSON was asked for, the prompt's language, the completion's
    VADER sentiment: as the libraries say here, from the text sent."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    key = new_project_key(server)
    now = datetime.now(UTC)
    english = "Please summarize the meeting notes from yesterday for the whole team."
    french = "Pouvez-vous résumer les notes de la réunion d'hier pour toute l'équipe ?"
    answers = ['{"summary": "ok"}', '{"items": [1, 2]}', '{"broken": ', "Sure! Here it is.",
               "This is terrible and I hate it.", "Wonderful, great work everyone!"]  # fmt: skip
    events = []
    # Each side: the six answers four times (a column needs ten values a side).
    for i, completion in enumerate(answers * 8):
        ts = now - (timedelta(days=3) if i < 4 * len(answers) else timedelta(hours=1))
        event = {"model_id": "m", "latency_ms": 10, "ts": (ts + timedelta(seconds=i)).isoformat(),
                 "prompt": english if i < 4 * len(answers) or i % 2 else french,
                 "completion": completion}  # fmt: skip
        if i % len(answers) < 3:
            event["response_format"] = "json"
        events.append(event)
    with server.client(key) as http:
        assert http.post("/v1/events", json=events).status_code == 202
    server.wait_loaded()
    report = _drift(
        server, key, columns="json_valid,language,completion_sentiment",
        reference="-4d..-2d", current="-2d..now",
    )  # fmt: skip
    columns = _columns(report)
    valid = columns["json_valid"]
    assert valid["current_count"] == 12 and valid["reference_count"] == 12  # JSON asked
    assert columns["language"]["current_count"] == 24
    assert _shares(valid) == {
        "true": pytest.approx(2 / 3, abs=1e-6),
        "false": pytest.approx(1 / 3, abs=1e-6),
    }
    assert _shares(columns["language"]) == {"fr": 0.5, "en": 0.5}
    vader = SentimentIntensityAnalyzer()
    scores = [vader.polarity_scores(a)["compound"] for a in answers]
    edges = columns["completion_sentiment"]["distribution"]["edges"]
    assert edges[0] == pytest.approx(min(scores), abs=1e-4)


def test_saved_baseline(server: Server, traffic: dict[str, Any]) -> None:
    """A known-good week saved under a name (its relative window fixed when saved) is a
    reference like any window; it can be listed and forgotten."""
    key = new_project_key(server, admin=True)
    _, events = traffic["mix"]
    with server.client(key) as http:
        assert http.post("/v1/events", json=events).status_code == 202
    server.wait_loaded()
    weeks = _weeks(traffic["now"])
    with server.client(key) as http:
        saved = http.put("/v1/drift/baselines/good-week", json={"window": weeks["reference"]})
        assert saved.status_code == 200, saved.text
        assert saved.json()["from"].startswith(
            f"{traffic['now'] - timedelta(days=14):%Y-%m-%dT%H:%M:%S}"
        )
        listed = http.get("/v1/drift/baselines").json()["baselines"]
        assert [b["name"] for b in listed] == ["good-week"]
        bad = http.put("/v1/drift/baselines/no%20spaces", json={"window": "-7d..now"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "name"
        bad = http.put("/v1/drift/baselines/x", json={"window": "experiment:A"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "window"
        bad = http.put("/v1/drift/baselines/x", json={"from": "-7d"})
        assert bad.status_code == 422
    by_name = _drift(server, key, reference="baseline:good-week", current=weeks["current"])
    by_window = _drift(server, key, **weeks)
    assert by_name["reference"]["label"] == "baseline:good-week"
    assert [c["score"] for c in by_name["columns"]] == [c["score"] for c in by_window["columns"]]
    unknown = _drift(server, key, 422, reference="baseline:nope")
    assert unknown["detail"][0]["field"] == "reference" and "good-week" in unknown["error"]
    with server.client(key) as http:
        assert http.delete("/v1/drift/baselines/good-week").status_code == 200
        assert http.delete("/v1/drift/baselines/good-week").status_code == 404
        assert http.get("/v1/drift/baselines").json()["baselines"] == []

"""Social posts over HTTP: both shapes, enrichment checked against vaderSentiment run here
with the lexicon as docs/social.md documents it, every aggregate against numpy over the
posts sent, bad posts dead-lettered, settings, alert kinds and the Social page."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fake_x import BEARER, FakeX, stream_lines
from playwright.sync_api import Browser
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from conftest import Server, new_project_key, run_cli
from test_alerts import alerts, evaluate
from test_dashboard import CHROMIUM, browser  # noqa: F401 - the module's browser

DOCS = Path(__file__).parent.parent / "docs" / "social.md"
WORDS = ("moon", "dump", "bullish", "bearish", "great", "terrible", "earnings", "today",
         "HODL", "FUD", "calls", "puts", "NVIDIA", "$NVDA", "$nvda", "$AMD", "#AI", "#ai",
         "#Chips", "🚀", "📉", "💎", "good", "not", "very", "ATH", "rug", "GeForce", "the")  # fmt: skip
NVDA = {"$nvda", "nvidia", "geforce", "cuda"}  # the default entity's aliases, as tokens
BOT_TEXT = "$NVDA 🚀🚀 100x guaranteed join now"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Alerts evaluated only when a test asks (POST /v1/alerts/evaluate)."""
    srv = Server(tmp_path_factory.mktemp("social") / "data", "--no-alerts").start()
    yield srv
    srv.stop()


def documented_vader() -> SentimentIntensityAnalyzer:
    """VADER with the lexicon table of docs/social.md, read from the docs themselves."""
    analyzer = SentimentIntensityAnalyzer()
    section = DOCS.read_text().split("### The finance and social lexicon", 1)[1]
    table = section.split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(rows) >= 30
    for row in rows[1:]:
        term, valence, read_as = (cell.strip() for cell in row.strip("|").split("|"))
        if read_as:
            analyzer.emojis[term] = read_as
            analyzer.lexicon[read_as] = float(valence)
        else:
            analyzer.lexicon[term] = float(valence)
    return analyzer


def make_posts(rng: random.Random, n: int, end: datetime) -> list[dict[str, Any]]:
    """Flat posts over the 3 hours before `end`, and a bot ring posting one text."""
    posts = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10)))
        posts.append({
            "id": 10_000 + i, "text": text, "platform": "x",
            "ts": (end - timedelta(seconds=rng.uniform(1, 3 * 3600))).isoformat(),
            "lang": rng.choice(["en", "en", "en", "de", "es"]),
            "author": {"id": f"a{rng.randint(1, 40)}", "handle": f"h{i % 40}",
                       "followers": rng.randint(0, 10_000), "verified": rng.random() < 0.1},
            "likes": rng.randint(0, 500), "reposts": rng.randint(0, 50),
            "replies": rng.randint(0, 30), "quotes": rng.randint(0, 10),
        })  # fmt: skip
    for b in range(6):
        posts.append({"id": 90_000 + b, "text": BOT_TEXT, "lang": "en",
                      "ts": (end - timedelta(minutes=30 + b)).isoformat(),
                      "author": {"id": f"bot{b}"}, "likes": 1})  # fmt: skip
    return posts


def as_x(post: dict[str, Any]) -> dict[str, Any]:
    """The same post as X API v2 sends it (tags given as entities, as X does)."""
    tokens = post["text"].split()
    author = post["author"]
    return {
        "data": {
            "id": str(post["id"]), "text": post["text"], "created_at": post["ts"],
            "author_id": author["id"], "lang": post["lang"],
            "public_metrics": {"like_count": post.get("likes", 0),
                               "retweet_count": post.get("reposts", 0),
                               "reply_count": post.get("replies", 0),
                               "quote_count": post.get("quotes", 0)},
            "entities": {"hashtags": [{"tag": t[1:]} for t in tokens if t.startswith("#")],
                         "cashtags": [{"tag": t[1:]} for t in tokens if t.startswith("$")]},
        },
        "includes": {"users": [{"id": author["id"], "username": author.get("handle"),
                                "verified": author.get("verified", False),
                                "public_metrics": {"followers_count": author.get("followers", 0)}}]},
    }  # fmt: skip


def engagement(post: dict[str, Any]) -> float:
    return float(post.get("likes", 0) + 2 * post.get("reposts", 0) + post.get("replies", 0)
                 + post.get("quotes", 0))  # fmt: skip


@pytest.fixture(scope="module")
def sent(server: Server) -> dict[str, Any]:
    """400 posts in a project of their own: a third as a JSON array, a third as X objects
    (one of them a search page with a `data` list), a third as NDJSON; then a retry."""
    key = new_project_key(server)
    end = datetime.now(UTC)
    posts = make_posts(random.Random(7), 394, end)
    with server.client(key) as http:
        r = http.post("/v1/social/posts", json=posts[:130])
        assert r.status_code == 202 and r.json()["accepted"] == 130, r.text
        xs = [as_x(p) for p in posts[130:260]]
        page = {
            "data": [x["data"] for x in xs[:30]],
            "includes": {"users": [u for x in xs[:30] for u in x["includes"]["users"]]},
        }
        r = http.post("/v1/social/posts", json=[page, *xs[30:]])
        assert r.status_code == 202 and r.json()["accepted"] == 130, r.text
        ndjson = b"".join(orjson.dumps(p) + b"\n" for p in posts[260:])
        r = http.post("/v1/social/posts", content=ndjson,
                      headers={"Content-Type": "application/x-ndjson"})  # fmt: skip
        assert r.status_code == 202 and r.json()["accepted"] == len(posts) - 260, r.text
        server.wait_loaded()
        r = http.post("/v1/social/posts", json=posts[:50])  # a client's retry
        assert r.status_code == 202
    server.wait_loaded()
    return {"key": key, "posts": posts, "end": end}


def get(server: Server, key: str, path: str, **params: Any) -> Any:
    with server.client(key) as http:
        r = http.get(path, params={"from": "-4h", **params})
        assert r.status_code == 200, r.text
        return r.json()


def test_each_post_is_enriched_as_documented(server: Server, sent: dict[str, Any]) -> None:
    vader = documented_vader()
    stored = get(server, sent["key"], "/v1/social/posts", limit=1000)["posts"]
    by_id = {p["post_id"]: p for p in stored}
    assert len(stored) == len(by_id) == len(sent["posts"])  # the retry stored nothing twice
    for post in sent["posts"]:
        got = by_id[str(post["id"])]
        compound = vader.polarity_scores(post["text"])["compound"]
        label = "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
        assert got["sentiment"] == pytest.approx(compound, abs=1e-4), post["text"]
        assert got["sentiment_label"] == label, post["text"]
        assert got["engagement"] == engagement(post)
        tokens = post["text"].split()
        assert sorted(got["hashtags"]) == sorted({t[1:].lower() for t in tokens if t[0] == "#"})
        assert sorted(got["cashtags"]) == sorted({t[1:].lower() for t in tokens if t[0] == "$"})
        mentions_nvda = any(t.lower() in NVDA for t in tokens)
        assert got["entities"] == (["NVDA"] if mentions_nvda else []), post["text"]
        assert got["duplicate"] == (post["text"] == BOT_TEXT)


def test_aggregates_equal_numpy(server: Server, sent: dict[str, Any]) -> None:
    vader = documented_vader()
    posts = sent["posts"]
    scores = np.array([vader.polarity_scores(p["text"])["compound"] for p in posts])
    weights = np.array([engagement(p) for p in posts])
    summary = get(server, sent["key"], "/v1/social/summary")
    assert summary["posts"] == len(posts)
    assert summary["sentiment"]["positive"] == int((scores >= 0.05).sum())
    assert summary["sentiment"]["negative"] == int((scores <= -0.05).sum())
    assert summary["sentiment"]["mean"] == pytest.approx(scores.mean(), abs=2e-4)
    weighted = float((scores * weights).sum() / weights.sum())
    assert summary["sentiment"]["weighted_mean"] == pytest.approx(weighted, abs=2e-4)
    assert summary["engagement"] == weights.sum()
    assert summary["authors"] == len({p["author"]["id"] for p in posts})
    assert summary["duplicates"] == 6 and summary["duplicate_share"] == pytest.approx(6 / 400)
    langs = Counter(p["lang"] for p in posts)
    assert {r["lang"]: r["posts"] for r in summary["languages"]} == dict(langs)

    tags: Counter[str] = Counter()
    for p in posts:
        tags.update({t[1:].lower() for t in p["text"].split() if t[0] == "#"})
    top = get(server, sent["key"], "/v1/social/top", kind="hashtags", limit=50)["items"]
    assert [(t["tag"], t["posts"]) for t in top] == sorted(
        tags.items(), key=lambda x: (-x[1], x[0])
    )

    by_author: defaultdict[str, float] = defaultdict(float)
    for p in posts:
        by_author[p["author"]["id"]] += engagement(p)
    authors = get(server, sent["key"], "/v1/social/top", kind="authors", by="engagement", limit=5)
    expected = sorted(by_author.items(), key=lambda x: (-x[1], x[0]))[:5]
    assert [(a["author_id"], a["engagement"]) for a in authors["items"]] == expected

    nvda = [s for p, s in zip(posts, scores, strict=True)
            if any(t.lower() in NVDA for t in p["text"].split())]  # fmt: skip
    entities = get(server, sent["key"], "/v1/social/entities", interval="1h")["entities"]
    assert entities[0]["entity"] == "NVDA" and entities[0]["posts"] == len(nvda)
    assert entities[0]["sentiment"]["mean"] == pytest.approx(np.mean(nvda), abs=2e-4)
    assert sum(p["posts"] for p in entities[0]["trend"]) == len(nvda)

    series = get(server, sent["key"], "/v1/social/timeseries", interval="1h")["points"]
    hours = Counter(datetime.fromisoformat(p["ts"]).replace(minute=0, second=0, microsecond=0)
                    for p in posts)  # fmt: skip
    got = {datetime.fromisoformat(p["t"].replace("Z", "+00:00")): p["posts"] for p in series}
    assert {h: n for h, n in got.items() if n} == dict(hours)


def test_bad_posts_are_refused_naming_the_field_and_dead_lettered(server: Server) -> None:
    key = new_project_key(server)
    bad = [
        {"text": "no id"},
        {"id": "1"},
        {"id": "2", "text": "half a like", "likes": 1.5},
        {"id": "3", "text": "many likes", "likes": "many"},
        {"id": "4", "text": "misspelt", "like": 3},
        {"id": "5", "text": "negative", "reposts": -1},
        {"data": {"id": "6", "text": "x", "public_metrics": {"like_count": "many"}}},
        {"id": "7", "text": "fine"},
    ]
    with server.client(key) as http:
        r = http.post("/v1/social/posts", json=bad)
        assert r.status_code == 202, r.text
        answer = r.json()
        assert (answer["accepted"], answer["rejected"]) == (1, 7)
        fields = {e["index"]: e["field"] for e in answer["errors"]}
        assert fields == {0: "id", 1: "text", 2: "likes", 3: "likes", 4: "like", 5: "reposts",
                          6: "data.public_metrics.like_count"}  # fmt: skip
        r = http.post("/v1/social/posts", content=b'{"id": "8", "text": "ok"}\n{not json\n',
                      headers={"Content-Type": "application/x-ndjson"})  # fmt: skip
        assert r.status_code == 202 and r.json()["errors"][0]["error"].startswith("malformed JSON")
        r = http.post("/v1/social/posts", json=[{"text": "only bad"}])
        assert r.status_code == 400 and r.json()["error"].startswith("no post could be stored")
        r = http.post(
            "/v1/social/posts", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["detail"][0]["field"] == "body"
        server.wait_loaded()
        rejected = http.get("/v1/rejected", params={"from": "-1h", "limit": 100}).json()["rejected"]
        reasons = " | ".join(r["reason"] for r in rejected)
        for field in (
            "id: Field required",
            "likes: Input should be a valid integer",
            "data.public_metrics.like_count",
            "malformed JSON",
            "like: Extra inputs",
        ):
            assert field in reasons, (field, reasons)
        assert len(rejected) == 7 + 1 + 1 + 1
        summary = http.get("/v1/social/summary", params={"from": "-1h"}).json()
        assert summary["posts"] == 2  # "fine" and "ok": the server kept going


def test_settings_change_entities_and_engagement(server: Server) -> None:
    key = new_project_key(server, admin=True)
    with server.client(key) as http:
        r = http.put("/v1/social/settings", json={
            "entities": {"AMD": ["$AMD", "Lisa Su"], "NVDA": ["$NVDA", "Nvidia"]},
            "engagement": {"reposts": 5},
        })  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["engagement"] == {"likes": 1, "reposts": 5, "replies": 1, "quotes": 1}
        post = {"id": "1", "text": "Lisa Su on stage, $AMD and nvidia", "likes": 2, "reposts": 3}
        assert http.post("/v1/social/posts", json=post).status_code == 202
        server.wait_loaded()
        got = http.get("/v1/social/posts", params={"from": "-1h"}).json()["posts"][0]
        assert got["entities"] == ["AMD", "NVDA"] and got["engagement"] == 2 + 5 * 3
        for body, field in (({"engagement": {"shares": 1}}, "engagement"),
                            ({"entities": {"X": []}}, "entities"),
                            ({"entities": {"bad name!": ["a"]}}, "entities")):  # fmt: skip
            r = http.put("/v1/social/settings", json=body)
            assert r.status_code == 422 and r.json()["detail"][0]["field"] == field, r.text
        assert http.get("/v1/social/settings").json()["entities"]["AMD"] == ["$AMD", "Lisa Su"]


def test_sentiment_drop_and_volume_spike_alerts_fire(server: Server) -> None:
    key = new_project_key(server, admin=True)
    now = datetime.now(UTC)

    def posts(n: int, text: str, ago: timedelta, first_id: int) -> list[dict[str, Any]]:
        return [{"id": first_id + i, "text": text, "author": {"id": f"u{i}"},
                 "ts": (now - ago - timedelta(seconds=i)).isoformat()} for i in range(n)]  # fmt: skip

    with server.client(key) as http:
        batch = (posts(25, "NVIDIA is great, bullish 🚀", timedelta(minutes=15), 0)
                 + posts(25, "NVIDIA terrible dump 📉", timedelta(minutes=2), 100)
                 + posts(2, "NVIDIA news", timedelta(days=7, minutes=2), 200))  # fmt: skip
        assert http.post("/v1/social/posts", json=batch).json()["accepted"] == 52
        server.wait_loaded()
        for rule in (
            {"name": "mood", "kind": "sentiment_drop", "metric": "NVDA", "window": "10m",
             "comparison": "<", "critical": -0.5, "min_requests": 20},
            {"name": "chatter", "kind": "post_volume", "metric": "NVDA", "window": "10m",
             "comparison": ">", "critical": 5, "params": {"weeks": 1}},
            {"name": "quiet", "kind": "post_volume", "metric": "all", "window": "10m",
             "comparison": ">", "critical": 100, "params": {"weeks": 1}},
        ):  # fmt: skip
            r = http.post("/v1/alerts/rules", json=rule)
            assert r.status_code in (200, 201), r.text
        bad = {"name": "b", "kind": "sentiment_drop", "metric": "NVDA", "critical": -1}
        r = http.post("/v1/alerts/rules", json=bad)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "comparison"
        r = http.post("/v1/alerts/rules", json={**bad, "comparison": "<", "params": {"x": 1}})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "params"
    fired = {t["rule_id"]: t["to"] for t in evaluate(server, key)}
    assert fired == {"mood": "firing", "chatter": "firing"}, fired
    now_alerts = alerts(server, key)
    vader = documented_vader()
    drop = (vader.polarity_scores("NVIDIA terrible dump 📉")["compound"]
            - vader.polarity_scores("NVIDIA is great, bullish 🚀")["compound"])  # fmt: skip
    assert now_alerts["mood"]["value"] == pytest.approx(drop, abs=1e-3)
    assert now_alerts["chatter"]["value"] == 25 and now_alerts["chatter"]["baseline"] == 2
    assert now_alerts["quiet"]["state"] == "ok"


def test_rfc_shapes_pass_through_unknown_x_fields(server: Server) -> None:
    """X adds fields over time (edit history, attachments): they are read past, not refused."""
    key = new_project_key(server)
    post = {"data": {"id": "77", "text": "hello $NVDA", "edit_history_tweet_ids": ["77"],
                     "attachments": {"media_keys": ["3_1"]}, "possibly_sensitive": False},
            "includes": {"media": [{"media_key": "3_1", "type": "photo"}]},
            "matching_rules": [{"id": "9", "tag": "nvidia"}]}  # fmt: skip
    with server.client(key) as http:
        r = http.post("/v1/social/posts", json=post)
        assert r.status_code == 202 and r.json()["accepted"] == 1, r.text
    server.wait_loaded()
    got = get(server, key, "/v1/social/posts")["posts"][0]
    assert got["post_id"] == "77" and got["cashtags"] == ["nvda"] and got["entities"] == ["NVDA"]


def test_social_page_shows_the_json_numbers(
    server: Server,
    sent: dict[str, Any],
    browser: Browser,  # noqa: F811
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium")
    summary = get(server, sent["key"], "/v1/social/summary")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/login")
    page.fill("input[name=key]", sent["key"])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/(\?.*)?$"))
    page.goto(f"{server.url}/social?range=24h")
    assert page.locator("[data-kpi=posts]").get_attribute("data-value") == str(summary["posts"])
    charts = page.locator("[data-chart]")
    assert charts.count() == 4
    for i in range(charts.count()):
        charts.nth(i).locator(".main-svg").first.wait_for()
    assert page.locator("#entities tr[data-entity=NVDA]").count() == 1
    assert page.locator("#top-posts tr[data-post]").count() == 20
    shown = get(server, sent["key"], "/v1/social/posts")["posts"]
    flagged = page.locator("#top-posts td:has-text('near-duplicate')").count()
    assert flagged == sum(p["duplicate"] for p in shown)
    page.click("#entities tr[data-entity=NVDA] a")
    page.wait_for_url(re.compile(r".*entity=NVDA.*"))
    entity = get(server, sent["key"], "/v1/social/summary", entity="NVDA")
    assert page.locator("[data-kpi=posts]").get_attribute("data-value") == str(entity["posts"])
    assert errors == []


def test_simulator_sends_posts_with_a_bot_ring(server: Server) -> None:
    key = new_project_key(server)
    run = run_cli("sim", "--social", "--url", server.url, "--api-key", key, "--count", "600",
                  "--qps", "0", "--seed", "4")  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "accepted 600, rejected 0" in run.stdout
    server.wait_loaded()
    summary = get(server, key, "/v1/social/summary")
    assert summary["posts"] == 600
    # The bot ring's one text from many accounts; nothing else repeats word for word.
    bots = get(server, key, "/v1/social/top", kind="authors", limit=1000)["items"]
    ring = sum(a["posts"] for a in bots if a["handle"].startswith("signals_bot"))
    assert ring > 0 and summary["duplicates"] == ring
    assert get(server, key, "/v1/social/entities")["entities"][0]["entity"] == "NVDA"


def test_follow_an_x_filtered_stream(server: Server) -> None:
    key = new_project_key(server)
    end = datetime.now(UTC)
    posts = make_posts(random.Random(11), 120, end)[:120]
    lines = stream_lines([{**as_x(p), "matching_rules": [{"id": "1", "tag": "nvidia"}]}
                          for p in posts])  # fmt: skip
    lines.insert(30, b"{not json\r\n")
    fake = FakeX(lines).start()
    try:
        run = run_cli("social", "follow", fake.url, "--bearer", BEARER, "--url", server.url,
                      "--api-key", key, "--batch-size", "50", "--exit-at-end")  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert "posts accepted 120, rejected 1" in run.stdout, run.stdout
        server.wait_loaded()
        got = {p["post_id"]: p for p in get(server, key, "/v1/social/posts", limit=1000)["posts"]}
        assert set(got) == {str(p["id"]) for p in posts}
        one = posts[0]
        assert got[str(one["id"])]["engagement"] == engagement(one)
        assert get(server, key, "/v1/social/summary")["posts"] == 120
        bad = run_cli("social", "follow", fake.url, "--bearer", "wrong", "--url", server.url,
                      "--api-key", key, "--exit-at-end")  # fmt: skip
        assert bad.returncode == 1 and "answered 401" in bad.stderr + bad.stdout
        assert "Traceback" not in bad.stderr
    finally:
        fake.stop()

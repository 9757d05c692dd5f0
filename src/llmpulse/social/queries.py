"""Every social metric and its SQL, over `social_posts` (docs/social.md).

Sentiment is VADER's compound score (-1..1), averaged plainly and weighted by engagement
(a post nobody engaged with weighs nothing there). A post counts as a near-duplicate (a
bot's or a campaign's) when its text hash was posted by at least DUPLICATE_AUTHORS
distinct authors in the range: decided over the whole range at query time, not per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from llmpulse.query.filters import QueryError, Scope, iso_ms
from llmpulse.query.metrics import Buckets
from llmpulse.store.engine import Engine, Param
from llmpulse.store.tables import POSTS

DUPLICATE_AUTHORS: Final = 3
TOP_KINDS: Final = {"hashtags": "hashtags", "cashtags": "cashtags", "mentions": "mentions"}
TOP_BY: Final = ("posts", "engagement")
MAX_LIMIT: Final = 1000
# Sums that add up across buckets (for totals computed from per-bucket rows).
_SUM_KEYS: Final = ("posts", "positive", "neutral", "negative", "sentiment_sum",
                    "weighted_sum", "engagement_sum")  # fmt: skip
_SUMS: Final = (
    "count() AS posts, countIf(sentiment_label = 'positive') AS positive, "
    "countIf(sentiment_label = 'neutral') AS neutral, "
    "countIf(sentiment_label = 'negative') AS negative, sum(sentiment) AS sentiment_sum, "
    "sum(sentiment * engagement) AS weighted_sum, sum(engagement) AS engagement_sum"
)
# Per bucket and over a range: volume, sentiment mix, plain and engagement-weighted means.
_MEASURES: Final = (
    "count() AS posts, countIf(sentiment_label = 'positive') AS positive, "
    "countIf(sentiment_label = 'neutral') AS neutral, "
    "countIf(sentiment_label = 'negative') AS negative, "
    "if(posts = 0, NULL, avg(sentiment)) AS sentiment_mean, "
    "if(sum(engagement) = 0, NULL, sum(sentiment * engagement) / sum(engagement)) "
    "AS sentiment_weighted, sum(engagement) AS engagement_sum"
)


@dataclass(frozen=True)
class PostFilter:
    """The posts of a project and range, narrowed to an entity, platform or language."""

    scope: Scope
    entity: str | None = None
    platform: str | None = None
    lang: str | None = None

    def where(self) -> tuple[str, dict[str, Param]]:
        clause, params = self.scope.where()
        if self.entity:
            clause += " AND has(entities, {entity:String})"
            params["entity"] = self.entity
        if self.platform:
            clause += " AND platform = {platform:String}"
            params["platform"] = self.platform
        if self.lang:
            clause += " AND lang = {lang:String}"
            params["lang"] = self.lang
        return clause, params


def _mix(row: dict[str, Any]) -> dict[str, Any]:
    posts = row["posts"]
    return {
        "posts": posts,
        "sentiment": {
            "positive": row["positive"],
            "neutral": row["neutral"],
            "negative": row["negative"],
            "mean": _rounded(row["sentiment_mean"]),
            "weighted_mean": _rounded(row["sentiment_weighted"]),
        },
        "engagement": row["engagement_sum"],
    }


def _means(sums: dict[str, Any]) -> dict[str, Any]:
    """A row of _SUMS as a row of _MEASURES."""
    posts, engagement = sums["posts"], sums["engagement_sum"]
    return {
        **sums,
        "sentiment_mean": sums["sentiment_sum"] / posts if posts else None,
        "sentiment_weighted": sums["weighted_sum"] / engagement if engagement else None,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def summary(engine: Engine, f: PostFilter) -> dict[str, Any]:
    """Totals over the range: volume, sentiment mix, engagement, authors, near-duplicate
    share and the language split."""
    where, params = f.where()
    row = engine.rows(
        f"SELECT {_MEASURES}, uniqExact(author_id) AS authors FROM {POSTS} WHERE {where}",
        params,
    )[0]
    duplicates = engine.rows(
        f"SELECT sumIf(posts, authors >= {DUPLICATE_AUTHORS}) AS n FROM ("
        # uniq is exact at these sizes (a hash set up to 65,536) and cheaper than uniqExact.
        f"SELECT count() AS posts, uniq(author_id) AS authors FROM {POSTS} WHERE {where} "
        "GROUP BY text_hash)",
        params,
    )[0]["n"]
    languages = engine.rows(
        f"SELECT lang, count() AS posts FROM {POSTS} WHERE {where} "
        "GROUP BY lang ORDER BY posts DESC, lang LIMIT 20",
        params,
    )
    posts = row["posts"]
    return {
        **_mix(row),
        "authors": row["authors"],
        "duplicates": duplicates,
        "duplicate_share": duplicates / posts if posts else None,
        "languages": [{"lang": r["lang"], "posts": r["posts"]} for r in languages],
    }


def duplicated(engine: Engine, f: PostFilter, hashes: list[int]) -> set[int]:
    """Which of the text hashes were posted by DUPLICATE_AUTHORS or more authors in the
    filter's range."""
    if not hashes:
        return set()
    where, params = f.where()
    params["hashes"] = [str(h) for h in hashes]
    rows = engine.rows(
        f"SELECT text_hash FROM {POSTS} WHERE {where} AND text_hash IN "
        "(SELECT arrayJoin(arrayMap(x -> toUInt64(x), {hashes:Array(String)}))) "
        f"GROUP BY text_hash HAVING uniq(author_id) >= {DUPLICATE_AUTHORS}",
        params,
    )
    return {int(r["text_hash"]) for r in rows}


def timeseries(engine: Engine, f: PostFilter, interval: str) -> dict[str, Any]:
    """Volume and sentiment per bucket; every bucket of the range listed."""
    buckets = Buckets.cover(f.scope, interval)
    where, params = f.where()
    rows = engine.rows(
        f"SELECT toUnixTimestamp(toStartOfInterval(ts, INTERVAL {buckets.seconds} SECOND)) "
        f"* 1000 AS t, {_MEASURES} FROM {POSTS} WHERE {where} GROUP BY t ORDER BY t",
        params,
    )
    found = {r["t"]: r for r in rows}
    empty = {"posts": 0, "positive": 0, "neutral": 0, "negative": 0, "engagement_sum": 0,
             "sentiment_mean": None, "sentiment_weighted": None}  # fmt: skip
    points = [{"t": iso_ms(t), **_mix(found.get(t, empty))} for t in buckets.starts_ms()]
    return {"interval": interval, "points": points}


def entities(engine: Engine, f: PostFilter, interval: str) -> dict[str, Any]:
    """Each tracked entity's mentions and sentiment over the range, and per bucket (one
    scan: the range's totals are summed from the buckets')."""
    buckets = Buckets.cover(f.scope, interval)
    where, params = f.where()
    rows = engine.rows(
        f"SELECT entity, toUnixTimestamp(toStartOfInterval(ts, INTERVAL {buckets.seconds} "
        f"SECOND)) * 1000 AS t, {_SUMS} FROM {POSTS} ARRAY JOIN entities AS entity "
        f"WHERE {where} GROUP BY entity, t ORDER BY entity, t",
        params,
    )
    by_entity: dict[str, dict[int, dict[str, Any]]] = {}
    for r in rows:
        by_entity.setdefault(r["entity"], {})[r["t"]] = _means(r)
    out = []
    for entity, found in by_entity.items():
        total = _means({k: sum(r[k] for r in found.values()) for k in _SUM_KEYS})
        trend = [
            {"t": iso_ms(t), "posts": found[t]["posts"] if t in found else 0,
             "sentiment_mean": _rounded(found[t]["sentiment_mean"]) if t in found else None}
            for t in buckets.starts_ms()
        ]  # fmt: skip
        out.append({"entity": entity, **_mix(total), "trend": trend})
    out.sort(key=lambda e: (-e["posts"], e["entity"]))
    return {"interval": interval, "entities": out}


def top(engine: Engine, f: PostFilter, kind: str, by: str, limit: int) -> dict[str, Any]:
    """The most frequent hashtags, cashtags, mentions or authors, by posts or engagement."""
    if kind not in (*TOP_KINDS, "authors"):
        raise QueryError("kind", f"use one of {', '.join([*TOP_KINDS, 'authors'])}")
    if by not in TOP_BY:
        raise QueryError("by", f"use one of {', '.join(TOP_BY)}")
    order = "posts" if by == "posts" else "engagement"
    where, params = f.where()
    params["limit"] = min(limit, MAX_LIMIT)
    if kind == "authors":
        items = engine.rows(
            "SELECT author_id, count() AS posts, sum(engagement) AS engagement, "
            "round(avg(sentiment), 4) AS sentiment_mean "
            f"FROM {POSTS} WHERE {where} GROUP BY author_id "
            f"ORDER BY {order} DESC, author_id LIMIT {{limit:UInt32}}",
            params,
        )
        # Then who they are, for those few only (a string per group of every author costs).
        params["authors"] = [r["author_id"] for r in items]
        who = {
            r["author_id"]: r
            for r in engine.rows(
                "SELECT author_id, argMax(author_handle, ts) AS handle, "
                "max(author_followers) AS followers, max(author_verified) AS verified "
                f"FROM {POSTS} WHERE {where} AND author_id IN {{authors:Array(String)}} "
                "GROUP BY author_id",
                params,
            )
        }
        for r in items:
            found = who[r["author_id"]]
            r.update(handle=found["handle"], followers=found["followers"],
                     verified=bool(found["verified"]))  # fmt: skip
    else:
        items = engine.rows(
            f"SELECT tag, count() AS posts, sum(engagement) AS engagement, "
            f"round(avg(sentiment), 4) AS sentiment_mean FROM {POSTS} "
            f"ARRAY JOIN {TOP_KINDS[kind]} AS tag WHERE {where} GROUP BY tag "
            f"ORDER BY {order} DESC, tag LIMIT {{limit:UInt32}}",
            params,
        )
    return {"kind": kind, "by": by, "items": items}


def most_engaged(engine: Engine, f: PostFilter, limit: int) -> dict[str, Any]:
    """The posts with the most engagement, each marked when it is a near-duplicate."""
    where, params = f.where()
    params["limit"] = min(limit, MAX_LIMIT)
    rows = engine.rows(
        "SELECT post_id, platform, formatDateTime(ts, '%Y-%m-%dT%H:%i:%S.%fZ') AS ts_text, "
        "author_id, author_handle, author_followers, text, lang, likes, reposts, replies, "
        "quotes, engagement, hashtags, cashtags, entities, round(sentiment, 4) AS score, "
        f"sentiment_label, text_hash FROM {POSTS} WHERE {where} "
        "ORDER BY engagement DESC, ts DESC, post_id LIMIT {limit:UInt32}",
        params,
    )
    repeated = duplicated(engine, f, [int(r["text_hash"]) for r in rows])
    posts = []
    for r in rows:
        r["ts"], r["sentiment"] = r.pop("ts_text"), r.pop("score")
        r["duplicate"] = int(r.pop("text_hash")) in repeated
        posts.append(r)
    return {"posts": posts}


def classification(engine: Engine, f: PostFilter) -> dict[str, Any]:
    """How often an LLM's label (`--classify-with`) agrees with VADER's, and where not."""
    where, params = f.where()
    rows = engine.rows(
        f"SELECT llm_sentiment AS llm, sentiment_label AS vader, count() AS posts "
        f"FROM {POSTS} WHERE {where} AND llm_sentiment != '' GROUP BY llm, vader "
        "ORDER BY llm, vader",
        params,
    )
    total = sum(r["posts"] for r in rows)
    agreed = sum(r["posts"] for r in rows if r["llm"] == r["vader"])
    return {
        "classified": total,
        "agreed": agreed,
        "agreement_rate": agreed / total if total else None,
        "pairs": rows,
    }


def window_sentiment(engine: Engine, f: PostFilter) -> tuple[int, float | None]:
    """(posts, mean sentiment) of the filter's range: what a sentiment alert watches."""
    where, params = f.where()
    row = engine.rows(
        f"SELECT count() AS posts, if(posts = 0, NULL, avg(sentiment)) AS mean "
        f"FROM {POSTS} WHERE {where}",
        params,
    )[0]
    return int(row["posts"]), _rounded(row["mean"])


def volumes(engine: Engine, f: PostFilter, shifts_s: list[int]) -> list[int]:
    """Posts in the filter's range shifted back by each of `shifts_s` seconds (0: the range
    itself), in one scan: a volume alert's window and its baseline weeks."""
    start, end = f.scope.start, f.scope.end
    low = start.timestamp() - max(shifts_s)
    wide = PostFilter(
        Scope(f.scope.project, datetime.fromtimestamp(low, UTC), end), f.entity, f.platform
    )
    where, params = wide.where()
    counts = ", ".join(
        f"countIf(ts >= fromUnixTimestamp64Milli({int((start.timestamp() - s) * 1000)}, 'UTC') "
        f"AND ts < fromUnixTimestamp64Milli({int((end.timestamp() - s) * 1000)}, 'UTC')) AS w{i}"
        for i, s in enumerate(shifts_s)
    )
    row = engine.rows(f"SELECT {counts} FROM {POSTS} WHERE {where}", params)[0]
    return [int(row[f"w{i}"]) for i in range(len(shifts_s))]

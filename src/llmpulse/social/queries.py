"""Every social metric and its SQL, over `social_posts` (docs/social.md).

Sentiment is VADER's compound score (-1..1), averaged plainly and weighted by engagement
(a post nobody engaged with weighs nothing there). A post counts as a near-duplicate (a
bot's or a campaign's) when its text hash was posted by at least DUPLICATE_AUTHORS
distinct authors in the range: decided over the whole range at query time, not per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from llmpulse.query.filters import QueryError, Scope, iso_ms
from llmpulse.query.metrics import Buckets
from llmpulse.store.engine import Engine, Param
from llmpulse.store.tables import POSTS, POSTS_ROLLUP_1H, TAGS_ROLLUP_1H

DUPLICATE_AUTHORS: Final = 3
TOP_KINDS: Final = ("hashtags", "cashtags", "mentions")  # the posts' tag columns
TOP_BY: Final = ("posts", "engagement")
MAX_LIMIT: Final = 1000
HOUR_S: Final = 3600
# Sums that add up across buckets and across the rollup and raw rows of a range.
_SUM_KEYS: Final = ("posts", "positive", "neutral", "negative", "sentiment_sum",
                    "weighted_sum", "engagement_sum")  # fmt: skip
_RAW_SUMS: Final = (
    "count() AS s_posts, countIf(sentiment_label = 'positive') AS s_positive, "
    "countIf(sentiment_label = 'neutral') AS s_neutral, "
    "countIf(sentiment_label = 'negative') AS s_negative, "
    "sum(toFloat64(sentiment)) AS s_sentiment_sum, "
    "sum(toFloat64(sentiment) * engagement) AS s_weighted_sum, "
    "sum(engagement) AS s_engagement_sum"
)
_ROLLUP_SUMS: Final = ", ".join(f"sum({k}) AS s_{k}" for k in _SUM_KEYS)
_OUTER_SUMS: Final = ", ".join(f"sum(s_{k}) AS {k}" for k in _SUM_KEYS)


@dataclass(frozen=True)
class PostFilter:
    """The posts of a project and range, narrowed to an entity, platform or language."""

    scope: Scope
    entity: str | None = None
    platform: str | None = None
    lang: str | None = None

    def where(self) -> tuple[str, dict[str, Param]]:
        clause, params = self.scope.where()
        return self._narrowed(clause, params, raw=True)

    def _narrowed(
        self, clause: str, params: dict[str, Param], raw: bool
    ) -> tuple[str, dict[str, Param]]:
        if self.entity:
            clause += " AND has(entities, {entity:String})" if raw else ""
            params["entity"] = self.entity
        if self.platform:
            clause += " AND platform = {platform:String}"
            params["platform"] = self.platform
        if self.lang:
            clause += " AND lang = {lang:String}"
            params["lang"] = self.lang
        return clause, params

    def hours(self, min_bucket_s: int = HOUR_S) -> tuple[datetime, datetime] | None:
        """The whole hours inside the range, which the rollups can answer; None when there
        are none or the buckets asked for are finer than an hour."""
        first = _ceil_hour(self.scope.start)
        last = _floor_hour(self.scope.end)
        return (first, last) if first < last and min_bucket_s >= HOUR_S else None

    def split(
        self, hours: tuple[datetime, datetime], per_entity: bool = False
    ) -> tuple[str, str, dict[str, Param]]:
        """(raw WHERE of the partial hours at the edges, rollup WHERE of the whole hours,
        their parameters). The rollups' entity '' row holds every post; `per_entity` reads
        the rows of each entity instead."""
        clause, params = self.scope.where()
        clause += (
            " AND NOT (ts >= {first:DateTime64(3, 'UTC')} AND ts < {last:DateTime64(3, 'UTC')})"
        )
        params["first"], params["last"] = hours
        raw, params = self._narrowed(clause, params, raw=True)
        rollup = (
            "project = {project:String} AND hour >= {first:DateTime64(3, 'UTC')} "
            "AND hour < {last:DateTime64(3, 'UTC')} AND "
        )
        rollup += "entity != ''" if per_entity else "entity = {rollup_entity:String}"
        params["rollup_entity"] = self.entity or ""
        rollup, params = self._narrowed(rollup, params, raw=False)
        return raw, rollup, params


def _ceil_hour(t: datetime) -> datetime:
    floor = _floor_hour(t)
    return floor if floor == t else floor + timedelta(hours=1)


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _sums(
    engine: Engine,
    f: PostFilter,
    raw_key: str,
    rollup_key: str,
    hours: tuple[datetime, datetime] | None,
    raw_from: str = POSTS,
    per_entity: bool = False,
) -> list[dict[str, Any]]:
    """_SUM_KEYS per key `k`: whole hours from the hourly rollup, the rest from the posts
    (all of it when `hours` is None)."""
    if hours is None:
        where, params = f.where()
        parts = [f"SELECT {raw_key} AS k, {_RAW_SUMS} FROM {raw_from} WHERE {where} GROUP BY k"]
    else:
        raw, rollup, params = f.split(hours, per_entity)
        parts = [
            f"SELECT {raw_key} AS k, {_RAW_SUMS} FROM {raw_from} WHERE {raw} GROUP BY k",
            f"SELECT {rollup_key} AS k, {_ROLLUP_SUMS} FROM {POSTS_ROLLUP_1H} "
            f"WHERE {rollup} GROUP BY k",
        ]
    rows = engine.rows(
        f"SELECT k, {_OUTER_SUMS} FROM ({' UNION ALL '.join(parts)}) GROUP BY k ORDER BY k",
        params,
    )
    return [_means(r) for r in rows]


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
    """Sums with their means: plain, and weighted by engagement (None without posts or
    engagement)."""
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
    by_lang = _sums(engine, f, "lang", "lang", f.hours())
    total = _means({k: sum(r[k] for r in by_lang) for k in _SUM_KEYS})
    where, params = f.where()
    # uniq is exact up to 65,536 authors (a hash set), within about 1% beyond.
    sql = f"SELECT uniq(author_id) AS n FROM {POSTS} WHERE {where}"
    authors = engine.rows(sql, params)[0]["n"]
    duplicates = engine.rows(
        f"SELECT sumIf(posts, authors >= {DUPLICATE_AUTHORS}) AS n FROM ("
        f"SELECT count() AS posts, uniq(author_id) AS authors FROM {POSTS} WHERE {where} "
        "GROUP BY text_hash)",
        params,
    )[0]["n"]
    posts = total["posts"]
    languages = sorted(by_lang, key=lambda r: (-r["posts"], r["k"]))[:20]
    return {
        **_mix(total),
        "authors": authors,
        "duplicates": duplicates,
        "duplicate_share": duplicates / posts if posts else None,
        "languages": [{"lang": r["k"], "posts": r["posts"]} for r in languages],
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
    bucket = (
        f"toUnixTimestamp(toStartOfInterval({{col}}, INTERVAL {buckets.seconds} SECOND)) * 1000"
    )
    rows = _sums(engine, f, bucket.format(col="ts"), bucket.format(col="hour"),
                 f.hours(buckets.seconds))  # fmt: skip
    found = {r["k"]: r for r in rows}
    empty = _means(dict.fromkeys(_SUM_KEYS, 0))
    points = [{"t": iso_ms(t), **_mix(found.get(t, empty))} for t in buckets.starts_ms()]
    return {"interval": interval, "points": points}


def entities(engine: Engine, f: PostFilter, interval: str) -> dict[str, Any]:
    """Each tracked entity's mentions and sentiment over the range, and per bucket (one
    scan: the range's totals are summed from the buckets')."""
    buckets = Buckets.cover(f.scope, interval)
    bucket = (
        f"toUnixTimestamp(toStartOfInterval({{col}}, INTERVAL {buckets.seconds} SECOND)) * 1000"
    )
    # Under an entity filter the entities mentioned beside it come from the posts alone:
    # the rollup keeps one entity per row.
    hours = None if f.entity else f.hours(buckets.seconds)
    rows = _sums(
        engine, f, f"(entity, {bucket.format(col='ts')})", f"(entity, {bucket.format(col='hour')})",
        hours, raw_from=f"{POSTS} ARRAY JOIN entities AS entity", per_entity=True,
    )  # fmt: skip
    by_entity: dict[str, dict[int, dict[str, Any]]] = {}
    for r in rows:
        entity, t = r["k"]
        by_entity.setdefault(entity, {})[t] = r
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
        items = _top_tags(engine, f, kind, order, params["limit"])
    return {"kind": kind, "by": by, "items": items}


def _top_tags(engine: Engine, f: PostFilter, kind: str, order: str, limit: Any) -> Any:
    """Top tags of a kind: whole hours from the tag rollup, the edges from the posts."""
    raw_sums = "count() AS s_posts, sum(engagement) AS s_eng, sum(toFloat64(sentiment)) AS s_sent"
    rollup_sums = (
        "sum(posts) AS s_posts, sum(engagement_sum) AS s_eng, sum(sentiment_sum) AS s_sent"
    )
    hours = f.hours()
    if hours is None:
        where, params = f.where()
        parts = [f"SELECT tag, {raw_sums} FROM {POSTS} ARRAY JOIN {kind} AS tag "
                 f"WHERE {where} GROUP BY tag"]  # fmt: skip
    else:
        raw, rollup, params = f.split(hours)
        parts = [
            f"SELECT tag, {raw_sums} FROM {POSTS} ARRAY JOIN {kind} AS tag "
            f"WHERE {raw} GROUP BY tag",
            f"SELECT tag, {rollup_sums} FROM {TAGS_ROLLUP_1H} "
            f"WHERE {rollup} AND kind = {{kind:String}} GROUP BY tag",
        ]
    params["kind"], params["limit"] = kind, limit
    return engine.rows(
        "SELECT tag, sum(s_posts) AS posts, sum(s_eng) AS engagement, "
        "round(sum(s_sent) / posts, 4) AS sentiment_mean "
        f"FROM ({' UNION ALL '.join(parts)}) GROUP BY tag "
        f"ORDER BY {order} DESC, tag LIMIT {{limit:UInt32}}",
        params,
    )


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
    rows = _sums(engine, f, "0", "0", f.hours())
    return (rows[0]["posts"], _rounded(rows[0]["sentiment_mean"])) if rows else (0, None)


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

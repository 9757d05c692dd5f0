"""Social posts: the v1 post schema, the X API v2 shape, and enrichment at ingest into
`social_posts` rows (docs/social.md).

A request item is either one post in our flat shape or an X API v2 envelope (`data` as one
post or a list, `includes.users` for the authors), so a filtered-stream or search output is
piped in unchanged. Each post is then checked, and enriched: sentiment (events/sentiment),
hashtags, cashtags and mentions case-folded (taken from the text when not given), the
project's tracked entities, engagement, language, and a hash of its text for spotting the
same text posted by many authors.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Final, Literal, NotRequired

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from typing_extensions import TypedDict

from llmpulse.events.descriptors import language
from llmpulse.events.normalize import Batch, collect, epoch_ms, metadata_map
from llmpulse.events.schema import MAX_ID_CHARS, Id, Scalar, validation_problems
from llmpulse.events.sentiment import sentiment

POST_ID_NAMESPACE: Final = uuid.UUID("0d7f3b7e-6a0c-4f57-9a4f-2f8e1c6b5d31")
_NAMESPACE_BYTES: Final = POST_ID_NAMESPACE.bytes
MAX_POST_CHARS: Final = 100_000
MAX_LIST: Final = 100
MAX_COUNT: Final = 10**15
ENGAGEMENT_FIELDS: Final = ("likes", "reposts", "replies", "quotes")
DEFAULT_WEIGHTS: Final = (1.0, 2.0, 1.0, 1.0)  # likes + 2·reposts + replies + quotes
DEFAULT_ENTITIES: Final = (
    ("NVDA", ("$NVDA", "NVIDIA", "Nvidia", "Jensen Huang", "GeForce", "CUDA")),
)
Label = Literal["positive", "neutral", "negative"]


def _id_text(value: object) -> object:
    """X sends ids as strings; other sources often as integers: both are one id."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


PostId = Annotated[
    str, BeforeValidator(_id_text), StringConstraints(min_length=1, max_length=MAX_ID_CHARS)
]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Names = Annotated[list[Id], Field(max_length=MAX_LIST)]


class Author(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    id: NotRequired[Annotated[Id, BeforeValidator(_id_text)] | None]
    handle: NotRequired[Id | None]
    followers: NotRequired[Count | None]
    verified: NotRequired[bool | None]


class Classification(TypedDict):
    """What an LLM said of the post (`llmpulse social consume --classify-with`)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    sentiment: Label
    topic: NotRequired[Id | None]


class PostV1(TypedDict):
    """A post as a client sends it (docs/social.md)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    id: PostId
    text: Annotated[str, StringConstraints(max_length=MAX_POST_CHARS)]
    ts: NotRequired[datetime | None]
    platform: NotRequired[Annotated[Id, StringConstraints(min_length=1)] | None]
    author: NotRequired[Author | None]
    lang: NotRequired[Id | None]
    likes: NotRequired[Count | None]
    reposts: NotRequired[Count | None]
    replies: NotRequired[Count | None]
    quotes: NotRequired[Count | None]
    views: NotRequired[Count | None]
    hashtags: NotRequired[Names | None]
    cashtags: NotRequired[Names | None]
    mentions: NotRequired[Names | None]
    urls: NotRequired[Names | None]
    reply_to: NotRequired[Annotated[Id, BeforeValidator(_id_text)] | None]
    conversation_id: NotRequired[Annotated[Id, BeforeValidator(_id_text)] | None]
    classification: NotRequired[Classification | None]
    metadata: NotRequired[dict[Id, Scalar] | None]


POST_FIELDS: Final = frozenset(PostV1.__annotations__) - {"__pydantic_config__"}
post_validator: Final = TypeAdapter(PostV1)


@dataclass(frozen=True)
class SocialPolicy:
    """A project's enrichment settings: tracked entities (name, aliases) and engagement
    weights (likes, reposts, replies, quotes). Small and hashable: it travels with each
    ingest request to the worker processes."""

    entities: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_ENTITIES
    weights: tuple[float, float, float, float] = DEFAULT_WEIGHTS


@lru_cache(maxsize=256)
def _entity_patterns(
    policy: SocialPolicy,
) -> tuple[tuple[str, re.Pattern[str], frozenset[str]], ...]:
    """Per entity: one case-insensitive pattern of its aliases as whole words ($NVDA as a
    cashtag, not inside $NVDAX), and its `$` aliases as cashtags."""
    out = []
    for name, aliases in policy.entities:
        words = "|".join(re.escape(a) for a in sorted(aliases, key=len, reverse=True))
        pattern = re.compile(rf"(?<![\w$])(?:{words})(?!\w)", re.IGNORECASE)
        out.append((name, pattern, frozenset(a[1:].casefold() for a in aliases if a[:1] == "$")))
    return tuple(out)


_HASHTAG = re.compile(r"(?<![\w&])#(\w{1,100})")
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9.]{0,9})(?![\w])")
_MENTION = re.compile(r"(?<![\w@])@(\w{1,50})")
_URL = re.compile(r"https?://\S+")
_NOISE = re.compile(r"https?://\S+|@\w+|[^\w$#]+")


def _tags(given: list[str] | None, pattern: re.Pattern[str], text: str, sigil: str) -> list[str]:
    """Case-folded, without the sigil, each once in order of appearance."""
    raw = given if given is not None else pattern.findall(text)
    return list(dict.fromkeys(t.lstrip(sigil).casefold() for t in raw if t.lstrip(sigil)))


def text_hash(text: str) -> int:
    """The same text however decorated: case, links, mentions and punctuation aside."""
    core = " ".join(_NOISE.sub(" ", text.casefold()).split())
    return int.from_bytes(hashlib.blake2b(core.encode(), digest_size=8).digest(), "little")


def post_event_id(platform: str, post_id: str) -> str:
    """The row's retry key: the same post sent again (or redelivered) is stored once. A
    UUIDv5 (RFC 4122), built from the SHA-1 directly: uuid.uuid5 costs three times more,
    and this runs once per post."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{platform}:{post_id}".encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass
class Posts:
    """A request's posts, each with its form as received (for dead letters) and where it
    was in the request (for error messages)."""

    flat: list[Any]
    raw: list[Any]
    places: list[str]
    malformed: dict[int, str]
    from_x: set[int] = field(default_factory=set)  # indexes of posts sent in X's shape


def unpack(items: list[Any], malformed: Mapping[int, str]) -> Posts:
    """Every post of a request's items: X API v2 envelopes are opened (their `data` may be
    a list); anything else is taken as one post in our flat shape."""
    out = Posts([], [], [], {})
    for index, item in enumerate(items):
        if index in malformed or not _is_x_envelope(item):
            if index in malformed:
                out.malformed[len(out.flat)] = malformed[index]
            out.flat.append(item)
            out.raw.append(item)
            out.places.append(f"item {index}")
            continue
        data = item["data"]
        users = _users(item.get("includes"))
        many = isinstance(data, list)
        for n, post in enumerate(data if many else [data]):
            out.places.append(f"item {index}" + (f" data[{n}]" if many else ""))
            out.raw.append({"data": post, "includes": item.get("includes")})
            if isinstance(post, dict):
                out.from_x.add(len(out.flat))
                out.flat.append(from_x(post, users, item.get("matching_rules")))
            else:
                out.malformed[len(out.flat)] = "`data` must hold post objects"
                out.flat.append(post)
    return out


def _is_x_envelope(item: Any) -> bool:
    return isinstance(item, dict) and "data" in item and "text" not in item


def _users(includes: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(includes, dict) or not isinstance(includes.get("users"), list):
        return {}
    return {str(u.get("id")): u for u in includes["users"] if isinstance(u, dict)}


# Where each flat field comes from in an X post, for error messages.
X_PATHS: Final = {
    "id": "data.id",
    "text": "data.text",
    "ts": "data.created_at",
    "lang": "data.lang",
    "likes": "data.public_metrics.like_count",
    "reposts": "data.public_metrics.retweet_count",
    "replies": "data.public_metrics.reply_count",
    "quotes": "data.public_metrics.quote_count",
    "views": "data.public_metrics.impression_count",
    "author.followers": "includes.users[].public_metrics.followers_count",
}


def from_x(
    post: dict[str, Any], users: dict[str, dict[str, Any]], rules: Any = None
) -> dict[str, Any]:
    """An X API v2 post (with its author from `includes.users`, and the filtered stream's
    `matching_rules` kept as metadata) in our flat shape."""
    metrics = post.get("public_metrics") or {}
    entities = post.get("entities") or {}
    user = users.get(str(post.get("author_id")), {})
    replied = [
        r.get("id")
        for r in post.get("referenced_tweets") or []
        if isinstance(r, dict) and r.get("type") == "replied_to"
    ]
    flat: dict[str, Any] = {
        "id": post.get("id"),
        "text": post.get("text"),
        "ts": post.get("created_at"),
        "platform": "x",
        "lang": post.get("lang"),
        "author": {
            "id": post.get("author_id"),
            "handle": user.get("username"),
            "followers": (user.get("public_metrics") or {}).get("followers_count"),
            "verified": user.get("verified"),
        },
        "likes": metrics.get("like_count"),
        "reposts": metrics.get("retweet_count"),
        "replies": metrics.get("reply_count"),
        "quotes": metrics.get("quote_count"),
        "views": metrics.get("impression_count"),
        "hashtags": _entity_texts(entities.get("hashtags"), "tag"),
        "cashtags": _entity_texts(entities.get("cashtags"), "tag"),
        "mentions": _entity_texts(entities.get("mentions"), "username"),
        "urls": _entity_texts(entities.get("urls"), "expanded_url", "url"),
        "conversation_id": post.get("conversation_id"),
        "reply_to": replied[0] if replied else None,
        # Ours, not X's: what `social consume --classify-with` added.
        "classification": post.get("classification"),
    }
    if isinstance(rules, list):
        tags = [str(r.get("tag") or r.get("id")) for r in rules if isinstance(r, dict)]
        flat["metadata"] = {"matching_rules": ",".join(tags)}
    # X leaves out what it has not got: absent and null are the same to us.
    flat["author"] = {k: v for k, v in flat["author"].items() if v is not None}
    return {k: v for k, v in flat.items() if v is not None}


def _entity_texts(found: Any, *keys: str) -> list[Any] | None:
    if not isinstance(found, list):
        return None
    return [next((e[k] for k in keys if e.get(k)), "") for e in found if isinstance(e, dict)]


def posts_batch(
    posts: Posts, project: str, received_ms: int, policy: SocialPolicy, ts_problem: Any
) -> Batch:
    """Check and enrich each post into a `social_posts` row. `ts_problem(ts_ms,
    received_ms)` says why a time cannot be stored (the normalizer's rule)."""

    def one(pair: tuple[Any, bool], out: Batch) -> list[tuple[str, str]]:
        problems = _post_row(pair[0], project, received_ms, policy, ts_problem, out)
        # Named as the sender wrote them: X's own field names for a post in X's shape.
        return [(X_PATHS.get(f, f), e) for f, e in problems] if pair[1] else problems

    shaped = [(post, i in posts.from_x) for i, post in enumerate(posts.flat)]
    return collect(shaped, posts.malformed, one)


def _post_row(
    item: Any,
    project: str,
    received_ms: int,
    policy: SocialPolicy,
    ts_problem: Any,
    out: Batch,
) -> list[tuple[str, str]]:
    if not isinstance(item, dict):
        return [("", f"a post must be a JSON object, got {type(item).__name__}")]
    try:
        post: dict[str, Any] = post_validator.validate_python(item)  # type: ignore[assignment]
    except ValidationError as exc:
        return validation_problems(exc)
    ts = post.get("ts")
    ts_ms = received_ms if ts is None else epoch_ms(ts)
    problem = ts_problem(ts_ms, received_ms)
    if problem:
        return [("ts", problem)]
    text = post["text"]
    platform = post.get("platform") or "x"
    author = post.get("author") or {}
    counts = [post.get(name) or 0 for name in ENGAGEMENT_FIELDS]
    cashtags = _tags(post.get("cashtags"), _CASHTAG, text, "$")
    score, mood = sentiment(text)
    row: dict[str, Any] = {
        "project": project,
        "ts": ts_ms / 1000,
        "event_id": post_event_id(platform, post["id"]),
        "post_id": post["id"],
        "platform": platform,
        "author_id": author.get("id") or author.get("handle") or "",
        "author_handle": author.get("handle") or "",
        "author_followers": author.get("followers") or 0,
        "author_verified": bool(author.get("verified")),
        "text": text,
        "lang": post.get("lang") or language(text) or "und",
        **dict(zip(ENGAGEMENT_FIELDS, counts, strict=True)),
        "views": post.get("views"),
        "engagement": sum(w * c for w, c in zip(policy.weights, counts, strict=True)),
        "hashtags": _tags(post.get("hashtags"), _HASHTAG, text, "#"),
        "cashtags": cashtags,
        "mentions": _tags(post.get("mentions"), _MENTION, text, "@"),
        "urls": post.get("urls") if post.get("urls") is not None else _URL.findall(text),
        "reply_to": post.get("reply_to") or "",
        "conversation_id": post.get("conversation_id") or "",
        "entities": tracked_entities(text, cashtags, policy),
        "sentiment": score,
        "sentiment_label": mood,
        "text_hash": text_hash(text),
        "received_at": received_ms / 1000,
    }
    classification = post.get("classification")
    if classification:
        row["llm_sentiment"] = classification["sentiment"]
        row["llm_topic"] = classification.get("topic") or ""
    metadata = post.get("metadata")
    if metadata:
        row["metadata"], problems = metadata_map(metadata, {})
        if problems:
            return problems
    out.rows.append(row)
    out.keys.append((row["event_id"], ts_ms, ts is None))
    return []


def tracked_entities(text: str, cashtags: list[str], policy: SocialPolicy) -> list[str]:
    """The tracked entities the post names: an alias in its text, or its cashtag."""
    return [
        name
        for name, pattern, tags in _entity_patterns(policy)
        if not tags.isdisjoint(cashtags) or pattern.search(text)
    ]

"""The shapes of the social API's answers, for the OpenAPI document (built as plain data;
tests/test_api_schema.py holds them to these)."""

from __future__ import annotations

from pydantic import BaseModel


class Sentiment(BaseModel):
    positive: int
    neutral: int
    negative: int
    mean: float | None
    weighted_mean: float | None


class Mix(BaseModel):
    posts: int
    sentiment: Sentiment
    engagement: float


class Language(BaseModel):
    lang: str
    posts: int


class Summary(Mix):
    authors: int
    duplicates: int
    duplicate_share: float | None
    languages: list[Language]


class Point(Mix):
    t: str


class Timeseries(BaseModel):
    interval: str
    points: list[Point]


class TrendPoint(BaseModel):
    t: str
    posts: int
    sentiment_mean: float | None


class Entity(Mix):
    entity: str
    trend: list[TrendPoint]


class Entities(BaseModel):
    interval: str
    entities: list[Entity]


class TopItem(BaseModel):
    posts: int
    engagement: float
    sentiment_mean: float
    tag: str | None = None
    author_id: str | None = None
    handle: str | None = None
    followers: int | None = None
    verified: bool | None = None


class Top(BaseModel):
    kind: str
    by: str
    items: list[TopItem]


class Post(BaseModel):
    post_id: str
    platform: str
    ts: str
    author_id: str
    author_handle: str
    author_followers: int
    text: str
    lang: str
    likes: int
    reposts: int
    replies: int
    quotes: int
    engagement: float
    hashtags: list[str]
    cashtags: list[str]
    entities: list[str]
    sentiment: float
    sentiment_label: str
    duplicate: bool


class Posts(BaseModel):
    posts: list[Post]


class Pair(BaseModel):
    llm: str
    vader: str
    posts: int


class Classification(BaseModel):
    classified: int
    agreed: int
    agreement_rate: float | None
    pairs: list[Pair]


class Settings(BaseModel):
    entities: dict[str, list[str]]
    engagement: dict[str, float]

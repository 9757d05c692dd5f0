"""Realistic posts about NVIDIA for `llmpulse simulate --social`: a crowd of authors with
heavy-tailed followers and engagement, a mood that drifts, bursts, bot rings posting the
same text, and a news event (a burst of negative posts about export rules) a few minutes
in. Half the posts come in the X API v2 shape, half in our flat one.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any, Final

POSITIVE: Final = (
    "$NVDA to the moon 🚀🚀 earnings crushed it",
    "Jensen Huang keynote was incredible, bullish on Nvidia",
    "Just bought more $NVDA calls, ATH incoming 📈",
    "CUDA is the moat nobody can cross. Long NVIDIA",
    "GeForce RTX numbers look great, love this quarter",
    "HODL $NVDA, best company in tech 💎",
)
NEUTRAL: Final = (
    "Watching the NVIDIA keynote live today",
    "What do you think about $NVDA earnings next week?",
    "New CUDA release notes are out",
    "Nvidia announces GeForce event date",
    "Reading about data center GPUs this morning",
)
NEGATIVE: Final = (
    "$NVDA is overvalued, this bubble will pop 📉",
    "Selling my Nvidia shares, bearish on chips",
    "Another dump today, $NVDA puts printing",
    "GeForce prices are terrible, never buying again",
    "FUD everywhere but this drop is ugly",
)
NEWS: Final = (
    "BREAKING: new export restrictions hit NVIDIA data center sales 📉",
    "Nvidia shares dump after export rules news, terrible for $NVDA",
    "Export ban fears: $NVDA selloff accelerates, bearish",
)
REMARKS: Final = (
    "", "thoughts?", "not financial advice", "lol", "wow", "as expected", "big week",
    "watching closely", "see you at the close", "charts don't lie", "my two cents",
    "long term", "short term noise", "volume is huge", "what a day", "day 3 of this",
)  # fmt: skip
BOT_TEXT: Final = "$NVDA 🚀🚀 100x guaranteed, join our signals group now"
HASHTAGS: Final = ("AI", "NVDA", "stocks", "GPU", "tech", "investing")
LANGS: Final = (("en", 0.85), ("es", 0.05), ("de", 0.04), ("ja", 0.03), ("fr", 0.03))
NEWS_AT_S: Final = 300  # the news event starts this long into a run, for NEWS_FOR_S
NEWS_FOR_S: Final = 180


class PostGenerator:
    def __init__(self, seed: int = 0, authors: int = 2000, bots: int = 40) -> None:
        self._rng = random.Random(seed)
        rng = self._rng
        self._authors = [
            (f"{1000 + i}", f"user{i}", int(rng.paretovariate(1.2) * 50), rng.random() < 0.02)
            for i in range(authors)
        ]
        self._bots = [
            (f"9{i:05d}", f"signals_bot{i}", rng.randint(0, 30), False) for i in range(bots)
        ]
        self._next_id = 1_700_000_000_000_000_000 + seed * 10_000_000_000
        self._started: datetime | None = None

    def event(self, ts: datetime) -> dict[str, Any]:
        """One post at `ts`, in either shape."""
        rng = self._rng
        self._started = self._started or ts
        into = (ts - self._started).total_seconds()
        news = NEWS_AT_S <= into < NEWS_AT_S + NEWS_FOR_S
        if rng.random() < 0.03:
            author, text = rng.choice(self._bots), BOT_TEXT
        else:
            author = rng.choice(self._authors)
            mood = rng.random()
            if news and mood < 0.6:
                text = rng.choice(NEWS)
            elif mood < 0.4:
                text = rng.choice(POSITIVE)
            elif mood < 0.75:
                text = rng.choice(NEUTRAL)
            else:
                text = rng.choice(NEGATIVE)
            # Real posts rarely repeat word for word: a price and a closing remark vary.
            text += f" (${rng.uniform(90, 160):.2f}) {rng.choice(REMARKS)}"
            if rng.random() < 0.5:
                text += " #" + rng.choice(HASHTAGS)
        self._next_id += rng.randint(1, 1000)
        reach = 1 + author[2] / 100
        likes = int(rng.paretovariate(1.5) * reach) - 1
        counts = (likes, int(likes * rng.random() * 0.3), int(likes * rng.random() * 0.1),
                  int(likes * rng.random() * 0.05))  # fmt: skip
        lang = rng.choices([code for code, _ in LANGS], [w for _, w in LANGS])[0]
        flat = {
            "id": str(self._next_id),
            "text": text,
            "ts": ts.isoformat(),
            "platform": "x",
            "lang": lang,
            "author": {"id": author[0], "handle": author[1], "followers": author[2],
                       "verified": author[3]},
            "likes": counts[0], "reposts": counts[1], "replies": counts[2], "quotes": counts[3],
            "views": counts[0] * rng.randint(20, 60),
        }  # fmt: skip
        return flat if rng.random() < 0.5 else as_x(flat)

    def rate_at(self, elapsed_s: float) -> float:
        """How many times the base rate posts come at this point of a run: four times
        during the news event, three times in a 10-second burst every two minutes."""
        if NEWS_AT_S <= elapsed_s < NEWS_AT_S + NEWS_FOR_S:
            return 4.0
        return 3.0 if elapsed_s % 120 >= 110 else 1.0


def as_x(flat: dict[str, Any]) -> dict[str, Any]:
    """A flat post as the X API v2 filtered stream sends it."""
    author = flat["author"]
    return {
        "data": {
            "id": flat["id"],
            "text": flat["text"],
            "created_at": flat["ts"],
            "author_id": author["id"],
            "lang": flat["lang"],
            "conversation_id": flat["id"],
            "public_metrics": {
                "like_count": flat["likes"],
                "retweet_count": flat["reposts"],
                "reply_count": flat["replies"],
                "quote_count": flat["quotes"],
                "impression_count": flat["views"],
            },
        },
        "includes": {
            "users": [
                {
                    "id": author["id"],
                    "username": author["handle"],
                    "verified": author["verified"],
                    "public_metrics": {"followers_count": author["followers"]},
                }
            ]
        },
        "matching_rules": [{"id": "1", "tag": "nvidia"}],
    }

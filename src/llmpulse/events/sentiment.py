"""Sentiment of a social post: VADER (vaderSentiment) extended with a finance and social
lexicon. The compound score is VADER's own, from -1 to 1; the label follows VADER's
documented cut-offs (>= 0.05 positive, <= -0.05 negative, neutral between).

VADER does not know how traders write: `bullish`, `HODL` or 🚀 are not in its lexicon, and
`dump` counts only as mildly negative. FINANCE_LEXICON adds or overrides those words on
VADER's own valence scale (-4..4); each emoji is read as a word of its own (EMOJI_WORDS),
so it is scored like one. docs/social.md lists them all, with their sources.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any, Final

POSITIVE_AT: Final = 0.05
NEGATIVE_AT: Final = -0.05

FINANCE_LEXICON: Final[dict[str, float]] = {
    "bullish": 2.5,
    "bull": 1.5,
    "bearish": -2.5,
    "bear": -1.5,
    "moon": 2.0,
    "mooning": 2.5,
    "dump": -2.0,
    "dumping": -2.0,
    "calls": 1.0,
    "puts": -1.0,
    "ath": 2.0,
    "rug": -3.0,
    "rugpull": -3.0,
    "rugged": -3.0,
    "fud": -1.5,
    "hodl": 1.5,
    "btfd": 1.5,
    "rekt": -2.5,
    "bagholder": -2.0,
    "tendies": 2.0,
    "overvalued": -1.5,
    "undervalued": 1.5,
    "selloff": -2.0,
    "rally": 2.0,
    "rocket_emoji": 2.5,
    "chart_up_emoji": 1.5,
    "chart_down_emoji": -2.0,
    "bull_emoji": 1.5,
    "bear_emoji": -1.5,
    "gem_emoji": 1.0,
}
EMOJI_WORDS: Final[dict[str, str]] = {
    "🚀": "rocket_emoji",
    "📈": "chart_up_emoji",
    "📉": "chart_down_emoji",
    "🐂": "bull_emoji",
    "🐻": "bear_emoji",
    "💎": "gem_emoji",
}
MAX_SCORED_CHARS: Final = 2000  # a post's sentiment is read from its first 2000 characters


@cache
def _analyzer() -> Any:
    """VADER with the finance lexicon, built once per process (it loads about 0.1 s)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(FINANCE_LEXICON)
    analyzer.emojis.update(EMOJI_WORDS)
    return analyzer


def label(compound: float) -> str:
    if compound >= POSITIVE_AT:
        return "positive"
    if compound <= NEGATIVE_AT:
        return "negative"
    return "neutral"


# Bots, reposts and campaigns send the same text many times: scored once each.
@lru_cache(maxsize=16384)
def sentiment(text: str) -> tuple[float, str]:
    """(compound score, label) of a text."""
    compound = float(_analyzer().polarity_scores(text[:MAX_SCORED_CHARS])["compound"])
    return compound, label(compound)

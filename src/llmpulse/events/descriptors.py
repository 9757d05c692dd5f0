"""Text descriptors: numbers about a call's prompt and completion, computed at ingest, so
drift can be watched on them without the text itself being kept.

- lengths in characters and words (prompt and completion);
- VADER sentiment of the completion (compound score, -1..1);
- the share of the completion's non-space characters that are not letters;
- refusal: the completion opens with one of REFUSAL_PHRASES (docs/drift-and-quality.md);
- valid JSON: whether the completion parses, only when the event asked for JSON;
- language of the prompt (the completion when there is no prompt), by py3langid.

The analysers load on first use (py3langid's model takes about a second), in the ingest
worker that needs them; long texts are analysed by their first ANALYSED_CHARS.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Final

import orjson

ANALYSED_CHARS: Final = 2000
LANGUAGE_CHARS: Final = 500
MIN_LANGUAGE_CHARS: Final = 20  # shorter texts get no language: a guess would be noise
# Phrases of a refusal, lower case, apostrophes straight. A completion is a refusal when
# one of them is in its first _OPENING characters.
REFUSAL_PHRASES: Final = (
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "sorry, but i can't",
    "i can't help with",
    "i cannot help with",
    "i can't assist with",
    "i cannot assist with",
    "i can't provide",
    "i cannot provide",
    "i'm not able to help",
    "i am not able to help",
    "i'm unable to",
    "i am unable to",
    "i won't be able to help",
    "i must decline",
    "i can't comply",
    "i cannot comply",
    "as an ai language model, i cannot",
    "i'm not comfortable",
    "that request goes against",
    "i can't do that",
)
_OPENING: Final = 160
_WORD = re.compile(r"\w+")
# The columns this module fills, for the store and the drift report.
COLUMNS: Final = (
    "prompt_chars",
    "prompt_words",
    "completion_chars",
    "completion_words",
    "completion_sentiment",
    "completion_nonletter_share",
    "refusal",
    "json_valid",
    "language",
)


@cache
def _sentiment() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@cache
def _language() -> Any:
    import py3langid

    return py3langid


def is_refusal(text: str) -> bool:
    head = text[:_OPENING].lstrip(" \n\t\"'").lower().replace("\u2019", "'")
    return any(phrase in head for phrase in REFUSAL_PHRASES)


def nonletter_share(text: str) -> float | None:
    chars = [c for c in text[:ANALYSED_CHARS] if not c.isspace()]
    if not chars:
        return None
    return sum(not c.isalpha() for c in chars) / len(chars)


def language(text: str) -> str:
    """The ISO 639-1 code of the text's language; '' when too short to tell."""
    sample = text[:LANGUAGE_CHARS]
    if len(sample.strip()) < MIN_LANGUAGE_CHARS:
        return ""
    code, _ = _language().classify(sample)
    return str(code)


def describe(prompt: str | None, completion: str | None, json_requested: bool) -> dict[str, Any]:
    """The descriptor columns for a call with this text (only those it has text for)."""
    out: dict[str, Any] = {}
    if prompt:
        out["prompt_chars"] = len(prompt)
        out["prompt_words"] = len(_WORD.findall(prompt))
    if completion:
        out["completion_chars"] = len(completion)
        out["completion_words"] = len(_WORD.findall(completion))
        out["completion_sentiment"] = round(
            _sentiment().polarity_scores(completion[:ANALYSED_CHARS])["compound"], 4
        )
        out["completion_nonletter_share"] = nonletter_share(completion)
        out["refusal"] = is_refusal(completion)
        if json_requested:
            try:
                orjson.loads(completion)
                out["json_valid"] = True
            except orjson.JSONDecodeError:
                out["json_valid"] = False
    text = prompt or completion
    if text:
        out["language"] = language(text)
    return out

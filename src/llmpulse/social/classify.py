"""`--classify-with MODEL`: each post's sentiment and topic from an LLM behind an
OpenAI-compatible endpoint (LLMPulse's proxy, or any base_url), with one fixed prompt.

The OpenAI client is instrumented by the LLMPulse SDK, so every classification is itself an
LLM call in LLMPulse (latency, tokens, cost, errors of the classifier); the Social page
reports how often its label agrees with VADER's.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import orjson

log = logging.getLogger(__name__)
LABELS: Final = ("positive", "neutral", "negative")
PROMPT: Final = (
    "Classify the sentiment of this social media post about markets and technology as "
    "positive, neutral or negative, and name its topic in one or two words. Answer with "
    'JSON only: {"sentiment": "positive|neutral|negative", "topic": "..."}\n\nPost: '
)
MAX_POST_CHARS: Final = 2000


class Classifier:
    """Classifies posts in place, a few at a time (the calls wait on the network)."""

    def __init__(
        self, model: str, base_url: str, api_key: str, feature: str = "social-classify",
        concurrency: int = 8,
    ) -> None:  # fmt: skip
        import openai

        import llmpulse

        llmpulse.instrument_openai()
        self.model = model
        self.feature = feature
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=2)
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="classify")

    def __call__(self, items: list[dict[str, Any]]) -> int:
        """Add `classification` to every post of `items` the LLM answered for; returns how
        many. A failed or unreadable answer leaves the post unclassified."""
        posts = [post for item in items for post in _posts(item)]
        labels = list(self._pool.map(self._classify, [str(p.get("text", "")) for p in posts]))
        for post, label in zip(posts, labels, strict=True):
            if label is not None:
                post["classification"] = label
        return sum(label is not None for label in labels)

    def _classify(self, text: str) -> dict[str, str] | None:
        import llmpulse

        try:
            with llmpulse.context(feature=self.feature):
                reply = self._client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": PROMPT + text[:MAX_POST_CHARS]}],
                    temperature=0,
                )
            return parse_answer(reply.choices[0].message.content or "")
        except Exception as exc:  # the post is stored unclassified; the call is an error event
            log.warning("classification failed: %s", exc)
            return None

    def close(self) -> None:
        self._pool.shutdown()


def _posts(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The post objects of a message item: itself, or an X object's `data`."""
    if "data" in item and "text" not in item:
        data = item["data"]
        found = data if isinstance(data, list) else [data]
        return [post for post in found if isinstance(post, dict)]
    return [item]


def parse_answer(text: str) -> dict[str, str] | None:
    """{"sentiment", "topic"} from the model's answer (JSON, maybe in a code fence)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        answer = orjson.loads(text[start : end + 1])
    except orjson.JSONDecodeError:
        return None
    sentiment = str(answer.get("sentiment", "")).strip().lower() if isinstance(answer, dict) else ""
    if sentiment not in LABELS:
        return None
    topic = str(answer.get("topic") or "")[:64]
    return {"sentiment": sentiment, "topic": topic}

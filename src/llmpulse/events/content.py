"""Prompt and completion text as stored: chat messages flattened into a readable transcript.

One definition for every way in (SDK, OTLP, LangChain, proxy), so a prompt reads the same
in the dashboard whichever way it arrived. Pure Python: the SDK uses it in the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Final


def part_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts
    (OpenAI's `{"type": "text", "text": ...}`, OTel's `{"type": "text", "content": ...}`)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                text = part.get("text", part.get("content"))
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts)
    return str(content)


def transcript(messages: Iterable[tuple[str, str]]) -> str:
    """`role: text` lines; a lone message (but a system one) is just its text."""
    pairs = [(role or "", text) for role, text in messages if text]
    if len(pairs) == 1 and pairs[0][0] != "system":
        return pairs[0][1]
    return "\n".join(f"{role}: {text}" if role else text for role, text in pairs)


def messages_text(messages: Any) -> str:
    """A transcript of OpenAI/Anthropic/OTel-style message dicts (or objects with
    `role` and `content`); anything else as its string."""
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, list | tuple):
        return "" if messages is None else str(messages)
    pairs = []
    for message in messages:
        if isinstance(message, dict):
            role = message.get("role", "")
            content = message.get("content", message.get("parts"))
        else:
            role = getattr(message, "role", getattr(message, "type", ""))
            content = getattr(message, "content", "")
        pairs.append((str(role or ""), part_text(content)))
    return transcript(pairs)


# Prompts are cached by OpenAI and Anthropic from 1,024 tokens on: about 4,096 characters.
PREFIX_CHARS: Final = 4096


def prefix_hash(text: str) -> str | None:
    """A hash of a prompt's first PREFIX_CHARS characters (system prompt, tools and leading
    messages come first), for finding calls whose prompt a cache could serve; None for a
    prompt too short to cache. The text itself is never sent."""
    if len(text) < PREFIX_CHARS:
        return None
    return hashlib.sha256(text[:PREFIX_CHARS].encode()).hexdigest()[:32]

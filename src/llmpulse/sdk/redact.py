"""Redaction of personal data and secrets from text, before anything leaves the process."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# Secrets first: a key may contain digit runs that look like a phone or card number.
BUILTIN_PATTERNS: dict[str, str] = {
    "api_key": (
        r"\b(?:sk|pk|rk)-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_\-]{16,}"
        r"|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bxox[abpr]-[A-Za-z0-9\-]{10,}"
        r"|\bAIza[0-9A-Za-z_\-]{35}\b|\blp_[A-Za-z0-9_]{16,}"
    ),
    "bearer_token": r"\b(?i:bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*",
    "email": r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b",
    "card_number": r"\b(?:\d[ \-]?){12,18}\d\b",
    "phone": r"(?<![\w+])\+?\(?\d{1,4}\)?[ .\-]?\(?\d{2,4}\)?[ .\-]?\d{3,4}[ .\-]?\d{3,4}\b",
}


def _scoped(pattern: str) -> str:
    """A pattern that can sit in an alternation: a leading `(?i)` becomes `(?i:...)`."""
    match = re.match(r"\(\?([aiLmsux]+)\)", pattern)
    return f"(?{match[1]}:{pattern[match.end() :]})" if match else pattern


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class Redactor:
    """Replaces matches with `[REDACTED:<name>]`. Card numbers must pass the Luhn check,
    so order ids and timestamps are left alone."""

    def __init__(self, extra: Iterable[str | re.Pattern[str]] = (), builtins: bool = True) -> None:
        patterns = dict(BUILTIN_PATTERNS) if builtins else {}
        for n, pattern in enumerate(extra):
            patterns[f"custom{n + 1}" if n else "custom"] = _scoped(
                pattern.pattern if isinstance(pattern, re.Pattern) else pattern
            )
        self.names = list(patterns)
        self._pattern = (
            re.compile("|".join(f"(?P<{name}>{p})" for name, p in patterns.items()))
            if patterns
            else None
        )

    def _replace(self, match: re.Match[str]) -> str:
        name = match.lastgroup or "custom"
        if name == "card_number":
            digits = re.sub(r"\D", "", match.group())
            if not _luhn(digits):
                return match.group()
        return f"[REDACTED:{name}]"

    def text(self, value: str) -> str:
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(self._replace, value)

    def value(self, value: Any) -> Any:
        """Strings redacted; lists and dicts walked; anything else as it is."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value

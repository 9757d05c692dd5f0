"""Redaction of personal data and secrets from text: in the SDK before anything leaves the
process, and on the server per project before anything is spooled or stored."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llmpulse.events.settings import ProjectSettings

# Secrets first: a key may contain digit runs that look like a phone or card number.
BUILTIN_PATTERNS: dict[str, str] = {
    "api_key": (
        r"\b(?:sk|pk|rk)-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_\-]{16,}"
        r"|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bxox[abpr]-[A-Za-z0-9\-]{10,}"
        r"|\bAIza[0-9A-Za-z_\-]{35}\b|\blp_[A-Za-z0-9_]{16,}"
    ),
    "bearer_token": r"\b(?i:bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*",
    "email": r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
    "ip_address": (
        r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"
        r"|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b"
        r"|\b(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?\b"
    ),
    "card_number": r"\b(?:\d[ \-]?){12,18}\d\b",
    "phone": r"(?<![\w+])\+?\(?\d{1,4}\)?[ .\-]?\(?\d{2,4}\)?[ .\-]?\d{3,4}[ .\-]?\d{3,4}\b",
}
RULES = tuple(BUILTIN_PATTERNS)
# What the SDK redacts unless told otherwise (the server's rules are chosen per project).
SDK_RULES = ("api_key", "bearer_token", "email", "card_number", "phone")


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


def _iban_valid(text: str) -> bool:
    """ISO 13616: the country and check digits moved to the end, read base 36, mod 97 is 1."""
    code = text.replace(" ", "")
    moved = code[4:] + code[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


class Redactor:
    """Replaces matches with `[REDACTED:<name>]`. Card numbers must pass the Luhn check and
    IBANs their mod-97 check, so order ids and timestamps are left alone.

    `builtins`: True for the SDK's rules, False for none, or the names of the rules to apply
    (RULES). `extra`: regexes named custom, custom2, ... or (name, regex) pairs."""

    def __init__(
        self,
        extra: Iterable[str | re.Pattern[str] | tuple[str, str]] = (),
        builtins: bool | Iterable[str] = True,
    ) -> None:
        chosen = SDK_RULES if builtins is True else () if builtins is False else tuple(builtins)
        patterns = {name: BUILTIN_PATTERNS[name] for name in RULES if name in chosen}
        for n, pattern in enumerate(extra):
            if isinstance(pattern, tuple):
                name, text = pattern
            else:
                name = f"custom{n + 1}" if n else "custom"
                text = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
            patterns[name] = _scoped(text)
        self.names = list(patterns)
        self._pattern = (
            re.compile("|".join(f"(?P<{name}>{p})" for name, p in patterns.items()))
            if patterns
            else None
        )

    def _replace(self, match: re.Match[str]) -> str:
        name = match.lastgroup or "custom"
        if name == "card_number" and not _luhn(re.sub(r"\D", "", match.group())):
            return match.group()
        if name == "iban" and not _iban_valid(match.group()):
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


@dataclass(frozen=True)
class RedactionPolicy:
    """A project's server-side redaction: the built-in rules it turned on and its own
    (name, regex) rules. Small and hashable: it travels with each ingest request to the
    worker processes, which compile it once."""

    rules: tuple[str, ...] = ()
    custom: tuple[tuple[str, str], ...] = ()

    def redactor(self) -> Redactor:
        return _compiled(self)

    def event(self, row: dict[str, Any], fields: Iterable[str], maps: Iterable[str]) -> None:
        """Redact a stored row in place: its text `fields` and the values of its `maps`."""
        redactor = self.redactor()
        for name in fields:
            if isinstance(row.get(name), str):
                row[name] = redactor.text(row[name])
        for name in maps:
            values = row.get(name)
            if isinstance(values, dict):
                row[name] = {k: redactor.value(v) for k, v in values.items()}


@lru_cache(maxsize=256)
def _compiled(policy: RedactionPolicy) -> Redactor:
    return Redactor(policy.custom, builtins=policy.rules)


class RedactionRegistry(ProjectSettings[RedactionPolicy]):
    """Every project's current policy (none: nothing redacted on the server)."""

    def set(self, project: str, policy: RedactionPolicy | None) -> None:
        super().set(project, policy if policy and (policy.rules or policy.custom) else None)

"""Map an error as a client, a proxy or an OTLP span reports it to the v1 `error_type`.

Pure Python and import-light: the SDK uses it in the caller's process.
"""

from __future__ import annotations

import re

# Phrases providers use when the prompt does not fit (OpenAI's code, Anthropic's message,
# vLLM's and Ollama's wording).
_CONTEXT_LENGTH = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|too many tokens"
    r"|input is too long|reduce the length",
    re.IGNORECASE,
)
_CONTENT_FILTER = re.compile(r"content[_ ]filter|content[_ ]policy|safety system", re.IGNORECASE)
_BY_NAME = (
    ("ratelimit", "rate_limit"),
    ("timeout", "timeout"),
    ("timedout", "timeout"),
    ("cancel", "cancelled"),
    ("authentication", "auth"),
    ("permissiondenied", "auth"),
    ("unauthorized", "auth"),
    ("forbidden", "auth"),
    ("connection", "network"),
    ("connect", "network"),
    ("network", "network"),
    ("internalserver", "server_error"),
    ("overloaded", "server_error"),
    ("serviceunavailable", "server_error"),
    ("contextlength", "context_length"),
    ("contentfilter", "content_filter"),
)


def error_type_for(status: int | None = None, name: str = "", message: str = "") -> str:
    """The error type for an HTTP status, an exception or error-code name, and a message.

    The status decides when it is specific (429, 401/403, 408/504, 5xx); a 400's message
    tells context length and content filtering apart from other client errors; without a
    status the name is matched (`RateLimitError`, `APITimeoutError`, `rate_limit_exceeded`).
    """
    if status is None and name.isdigit() and len(name) == 3:
        status = int(name)  # OTel's error.type may be the HTTP status code
    text = f"{name} {message}"
    if status == 429:
        return "rate_limit"
    if status in (401, 403):
        return "auth"
    if status in (408, 504):
        return "timeout"
    if status == 499:
        return "cancelled"
    if _CONTEXT_LENGTH.search(text):
        return "context_length"
    if _CONTENT_FILTER.search(text):
        return "content_filter"
    if status is not None and status >= 500:
        return "server_error"
    if status is not None and status >= 400:
        return "client_error"
    squashed = name.replace("_", "").replace(".", "").replace(" ", "").lower()
    for needle, error_type in _BY_NAME:
        if needle in squashed:
            return error_type
    return "other"

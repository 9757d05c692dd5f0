"""Prompt files for `llmpulse probe`: a .txt with one prompt per line, or a .jsonl with a
`messages` list per line. The bundled ones are named quick, long and code."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import orjson

Messages = list[dict[str, Any]]
BUNDLED = {"quick": "quick.txt", "long": "long.txt", "code": "code.jsonl"}


class PromptFileError(ValueError):
    pass


def load_prompts(name_or_path: str) -> list[Messages]:
    """The chat messages of each prompt, in file order."""
    if name_or_path in BUNDLED:
        source = resources.files("llmpulse.probe").joinpath("prompt_sets", BUNDLED[name_or_path])
        text, suffix = source.read_text(encoding="utf-8"), Path(BUNDLED[name_or_path]).suffix
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise PromptFileError(
                f"{name_or_path}: no such file (or use a bundled set: {', '.join(BUNDLED)})"
            )
        text, suffix = path.read_text(encoding="utf-8"), path.suffix
    prompts = _jsonl(text, name_or_path) if suffix == ".jsonl" else _lines(text)
    if not prompts:
        raise PromptFileError(f"{name_or_path}: no prompts in it")
    return prompts


def _lines(text: str) -> list[Messages]:
    return [
        [{"role": "user", "content": line.strip()}] for line in text.splitlines() if line.strip()
    ]


def _jsonl(text: str, name: str) -> list[Messages]:
    prompts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise PromptFileError(f"{name} line {number}: not JSON ({exc})") from None
        messages = item.get("messages") if isinstance(item, dict) else None
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and "role" in m and "content" in m for m in messages
        ):
            raise PromptFileError(
                f'{name} line {number}: needs {{"messages": [{{"role": ..., "content": ...}}]}}'
            )
        prompts.append(messages)
    return prompts

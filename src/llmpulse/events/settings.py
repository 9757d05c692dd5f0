"""Per-project settings the ingest pipeline applies (redaction, social enrichment): read on
every request, replaced whole when a project changes them."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class ProjectSettings(Generic[T]):
    """Every project's current setting; None for a project that set none."""

    def __init__(self) -> None:
        self._settings: dict[str, T] = {}

    def get(self, project: str) -> T | None:
        return self._settings.get(project)

    def set(self, project: str, setting: T | None) -> None:
        # Replaced whole: readers on other threads see the old dict or the new one.
        settings = dict(self._settings)
        if setting is None:
            settings.pop(project, None)
        else:
            settings[project] = setting
        self._settings = settings

"""The two sides a drift report compares: time windows, experiment variants, parsed from
the API's `reference` and `current`, and checked not to share calls."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llmpulse.query.filters import QueryError, Scope, iso_ms, parse_time
from llmpulse.store.engine import Param

_EXPERIMENT = re.compile(r"experiment:(?:(?P<name>[^:]+):)?(?P<variant>[^:]+)")


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a time range, optionally one experiment variant."""

    label: str
    start: datetime
    end: datetime
    experiment: str | None = None
    variant: str | None = None

    def condition(self, name: str) -> tuple[str, dict[str, Param]]:
        sql = (f"e.ts >= {{{name}_start:DateTime64(3, 'UTC')}} "
               f"AND e.ts < {{{name}_end:DateTime64(3, 'UTC')}}")  # fmt: skip
        params: dict[str, Param] = {f"{name}_start": self.start, f"{name}_end": self.end}
        if self.variant is not None:
            sql += f" AND e.experiment_variant = {{{name}_variant:String}}"
            params[f"{name}_variant"] = self.variant
        if self.experiment is not None:
            sql += f" AND e.experiment_name = {{{name}_experiment:String}}"
            params[f"{name}_experiment"] = self.experiment
        return sql, params

    def public(self, events: int, sampled: int) -> dict[str, Any]:
        return {
            "label": self.label,
            "from": iso_ms(int(self.start.timestamp() * 1000)),
            "to": iso_ms(int(self.end.timestamp() * 1000)),
            "experiment": self.experiment,
            "variant": self.variant,
            "events": events,
            "sampled": sampled,
        }


def parse_side(value: str, param: str, scope: Scope, now: datetime) -> Side:
    """`FROM..TO` (ISO 8601 or relative times), or `experiment:[NAME:]VARIANT` over the
    request's from/to."""
    value = value.strip()
    match = _EXPERIMENT.fullmatch(value)
    if match:
        return Side(value, scope.start, scope.end, match["name"], match["variant"])
    start, dots, end = value.partition("..")
    if not dots:
        raise QueryError(
            param, f"{value!r}: give FROM..TO (like -14d..-7d) or experiment:[NAME:]VARIANT", 422
        )
    begin, finish = parse_time(start, param, now), parse_time(end or "now", param, now)
    if begin >= finish:
        raise QueryError(param, f"{value!r}: the start must be before the end", 422)
    return Side(value, begin, finish)


def check_sides(reference: Side, current: Side) -> None:
    """The sides must not share calls: separate periods, or two different variants."""
    if not (reference.start < current.end and current.start < reference.end):
        return
    both = reference.variant is not None and current.variant is not None
    named = reference.experiment is not None and current.experiment is not None
    if both and (
        reference.variant != current.variant
        or (named and reference.experiment != current.experiment)
    ):
        return
    if both:
        raise QueryError("current", "is the same variant as the reference", 422)
    raise QueryError("current", "overlaps the reference window: compare two separate periods", 422)

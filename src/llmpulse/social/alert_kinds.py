"""Social rule kinds, in the alerts' registry (docs/alerts.md, docs/social.md). `metric`
names a tracked entity, or `all` for every post; `min_requests` is the fewest posts the
window needs to be judged.

- sentiment_drop: the window's mean sentiment minus the previous window's. Fires on a
  fall: comparison `<` (or `<=`), thresholds negative (critical: -0.3 is a drop of 0.3).
- post_volume: the window's posts as a multiple of the same window at the same hour of
  the week over the previous `params.weeks` weeks (default 4); a silent baseline counts
  as one post, so a burst from nothing still reads as a multiple.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from llmpulse.alerts.kinds import Observation, check_own_scope, register
from llmpulse.alerts.rules import Rule
from llmpulse.api.errors import FieldError
from llmpulse.query.filters import Scope
from llmpulse.social import queries
from llmpulse.store.engine import Engine

ALL: Final = "all"
WEEK_S: Final = 7 * 86400
DEFAULT_WEEKS: Final = 4


def _filter(project: str, rule: Rule, start: datetime, end: datetime) -> queries.PostFilter:
    entity = None if rule.metric == ALL else rule.metric
    return queries.PostFilter(Scope(project, start, end), entity)


class SentimentDrop:
    name = "sentiment_drop"

    def check(self, rule: Rule) -> None:
        check_own_scope(rule, set(), "sentiment_drop rules take no params")
        if rule.comparison not in ("<", "<="):
            raise FieldError(422, "comparison", "a drop fires below a negative change: < or <=")

    def observe(self, engine: Engine, project: str, rule: Rule, end: datetime) -> list[Observation]:
        window = timedelta(seconds=rule.window_s)
        posts, now = queries.window_sentiment(engine, _filter(project, rule, end - window, end))
        before_posts, before = queries.window_sentiment(
            engine, _filter(project, rule, end - 2 * window, end - window)
        )
        judged = now is not None and before is not None and before_posts >= rule.min_requests
        change = round(now - before, 4) if judged else None  # type: ignore[operator]
        detail = {"mean": now, "previous_mean": before, "previous_posts": before_posts}
        return [Observation({}, change, requests=posts, detail=detail)]

    def explain(
        self, engine: Engine, project: str, rule: Rule, seen: Observation, end: datetime
    ) -> dict[str, Any] | None:
        return seen.detail or None


class PostVolume:
    name = "post_volume"

    def check(self, rule: Rule) -> None:
        check_own_scope(rule, {"weeks"}, "use weeks (1-12)")
        weeks = rule.params.get("weeks", DEFAULT_WEEKS)
        if not isinstance(weeks, int) or isinstance(weeks, bool) or not 1 <= weeks <= 12:
            raise FieldError(422, "params.weeks", "a whole number of weeks from 1 to 12")
        if rule.comparison not in (">", ">="):
            raise FieldError(422, "comparison", "a spike fires above a multiple: > or >=")

    def observe(self, engine: Engine, project: str, rule: Rule, end: datetime) -> list[Observation]:
        weeks = int(rule.params.get("weeks", DEFAULT_WEEKS))
        f = _filter(project, rule, end - timedelta(seconds=rule.window_s), end)
        now, *before = queries.volumes(engine, f, [k * WEEK_S for k in range(weeks + 1)])
        usual = max(sum(before) / weeks, 1.0)
        return [Observation({}, float(now), requests=now, baseline=usual,
                            detail={"usual_posts": sum(before) / weeks})]  # fmt: skip

    def explain(
        self, engine: Engine, project: str, rule: Rule, seen: Observation, end: datetime
    ) -> dict[str, Any] | None:
        return {"posts": seen.value, **seen.detail}


register(SentimentDrop())
register(PostVolume())

"""The `drift` and `quality` rule kinds.

drift: `metric` is a monitored column (or `dataset`); the window ending at evaluation time
is compared with the `params.baseline` period just before it (7d by default) by a distance
(`params.test`, default Wasserstein for numbers, Jensen-Shannon for categories); the value
is that distance, or for `dataset` the share of columns that drifted.

quality: `metric` is one figure of the data-quality report over the window (QUALITY
below), the report's own thresholds left aside: the rule's are compared.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from llmpulse.alerts.kinds import Observation, check_common, register
from llmpulse.alerts.rules import Rule
from llmpulse.analytics import drift, drift_sides, quality
from llmpulse.analytics.drift_tests import TESTS
from llmpulse.analytics.monitored import COLUMNS
from llmpulse.api.errors import FieldError
from llmpulse.query.filters import Scope
from llmpulse.store.engine import Engine

DATASET: Final = "dataset"
DEFAULT_BASELINE: Final = "7d"
ALERT_SAMPLE: Final = 10_000  # calls per side: a rule runs every few minutes


class DriftKind:
    name = "drift"

    def check(self, rule: Rule) -> None:
        check_common(rule, {"baseline", "test"}, "use baseline, test")
        if rule.metric != DATASET and rule.metric not in COLUMNS:
            known = ", ".join([DATASET, *COLUMNS])
            raise FieldError(422, "metric", f"unknown column {rule.metric!r}; one of {known}")
        if rule.comparison not in (">", ">="):
            raise FieldError(422, "comparison", "a drift rule fires on a distance above: > or >=")
        self._baseline_s(rule)
        test = rule.params.get("test")
        if test is not None:
            if test not in TESTS or TESTS[test].score_type != "distance":
                distances = ", ".join(n for n, t in TESTS.items() if t.score_type == "distance")
                raise FieldError(422, "params.test", f"must be a distance: {distances}")
            if rule.metric == DATASET:
                raise FieldError(422, "params.test", "the dataset share uses each column's default")
            if COLUMNS[rule.metric].kind not in TESTS[test].kinds:
                raise FieldError(422, "params.test", f"{test} cannot test {rule.metric}")

    @staticmethod
    def _baseline_s(rule: Rule) -> int:
        seconds = rule.param_seconds("baseline", DEFAULT_BASELINE, rule.window_s, 30 * 86400)
        assert seconds is not None  # it has a default
        return seconds

    def _report(self, engine: Engine, project: str, rule: Rule, end: datetime) -> dict[str, Any]:
        baseline = self._baseline_s(rule)
        start = end - timedelta(seconds=rule.window_s)
        current = drift_sides.Side(f"last {rule.window}", start, end)
        reference = drift_sides.Side("baseline", start - timedelta(seconds=baseline), start)
        column = rule.metric
        if column == DATASET:
            columns: tuple[str, ...] = tuple(COLUMNS)
            tests: dict[str, str] = {}
        else:
            columns = (column,)
            kind = COLUMNS[column].kind
            tests = {column: rule.params.get("test") or
                     ("wasserstein" if kind == "numeric" else "jensenshannon")}  # fmt: skip
        options = drift.Options(columns, tests, sample=ALERT_SAMPLE, over_time=False,
                                slices=True)  # fmt: skip
        scope = Scope(project, reference.start, end, rule.filters)
        return drift.report(engine, scope, reference, current, options)

    def observe(self, engine: Engine, project: str, rule: Rule, end: datetime) -> list[Observation]:
        report = self._report(engine, project, rule, end)
        calls = int(report["current"]["events"])
        if report["status"] != "ok" or calls < rule.min_requests:
            return [Observation({}, None, calls)]
        if rule.metric == DATASET:
            value = report["share_drifted"]
            drifted = [c["column"] for c in report["columns"] if c["drifted"]]
            return [Observation({}, value, calls, detail={"drifted": drifted})]
        column = report["columns"][0]
        if column["status"] != "ok":
            return [Observation({}, None, calls)]
        detail = {"test": column["test"], "reference_calls": report["reference"]["events"]}
        return [Observation({}, column["score"], calls, detail=detail)]

    def explain(
        self, engine: Engine, project: str, rule: Rule, seen: Observation, end: datetime
    ) -> dict[str, Any] | None:
        report = self._report(engine, project, rule, end)
        drifted = [c for c in report["columns"] if c["drifted"]]
        if not drifted:
            return None
        return {
            "columns": [
                {"column": c["column"], "test": c["test"], "score": c["score"],
                 "slices": c.get("slices", [])}
                for c in drifted
            ]
        }  # fmt: skip


# The figures a quality rule may watch: (the report's check, the evidence key holding the
# figure, or None for the check's value).
QUALITY: Final[dict[str, tuple[str, str | None]]] = {
    "completeness": ("completeness", None),
    "freshness_s": ("freshness", None),
    "ingest_lag_p95_s": ("freshness", "ingest_lag_p95_s"),
    "gaps": ("gaps", None),
    "volume_anomalies": ("volume", None),
    "duplicates_share": ("duplicates", "share"),
    "rejected_share": ("rejected", "share"),
    "unpriced_share": ("unpriced", "share"),
    "late_share": ("clock_skew", "late_share"),
    "stopped": ("coverage", None),
}


class QualityKind:
    name = "quality"

    @staticmethod
    def _gap_s(rule: Rule) -> int:
        seconds = rule.param_seconds("gap", "1h", 60, rule.window_s)
        assert seconds is not None  # it has a default
        return seconds

    def check(self, rule: Rule) -> None:
        check_common(rule, {"gap"}, "use gap")
        if rule.metric not in QUALITY:
            raise FieldError(
                422, "metric", f"unknown figure {rule.metric!r}; one of {', '.join(QUALITY)}"
            )
        self._gap_s(rule)

    def _report(self, engine: Engine, project: str, rule: Rule, end: datetime) -> dict[str, Any]:
        gap = self._gap_s(rule)
        scope = Scope(project, end - timedelta(seconds=rule.window_s), end, rule.filters)
        return quality.report(engine, scope, end, quality.Options(gap_s=gap))

    def _check(self, engine: Engine, project: str, rule: Rule, end: datetime) -> dict[str, Any]:
        """The report's check the rule's figure comes from, with the report's event count."""
        report = self._report(engine, project, rule, end)
        name = QUALITY[rule.metric][0]
        return {
            "events": report["events"],
            **next(c for c in report["checks"] if c["name"] == name),
        }

    def observe(self, engine: Engine, project: str, rule: Rule, end: datetime) -> list[Observation]:
        check = self._check(engine, project, rule, end)
        key = QUALITY[rule.metric][1]
        value = check["value"] if key is None else check["evidence"][key]
        return [Observation({}, None if value is None else float(value), int(check["events"]))]

    def explain(
        self, engine: Engine, project: str, rule: Rule, seen: Observation, end: datetime
    ) -> dict[str, Any] | None:
        check = self._check(engine, project, rule, end)
        return {"check": check["name"], "evidence": check["evidence"]}


register(DriftKind())
register(QualityKind())

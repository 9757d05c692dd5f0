"""Re-costing stored calls after a price change: each call's cost is computed again from its
tokens at the prices in force at its time (the project's dated overrides, the price file,
the catalogue), and the rollups are corrected with it.

How, so that nothing is counted twice or lost while ingest goes on:
1. The job runs in the loader's thread between two inserts (Loader.after_loaded), once
   every call spooled before it was queued is stored, and never while an earlier
   re-costing's mutation is still being applied (its calls would be changed twice).
2. For the calls whose cost changes, the difference (new - old) per rollup row is inserted
   into both rollups (their sums take it). The insert's deduplication token is a hash of
   the changes: if the job dies before step 3, the next run computes the same changes and
   the repeated insert is dropped.
3. One ALTER TABLE ... UPDATE mutation sets the calls' new cost and cost_source; ClickHouse
   applies it part by part in the background, which is the progress the job reports.
Calls that say their own cost (`reported`) keep it. Running it twice changes nothing more.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from llmpulse.costs.pricing_sql import price_sql, schedule_sql
from llmpulse.pricing.dated import PriceRegistry, ProjectPrices
from llmpulse.pricing.prices import PriceBook
from llmpulse.query.aggregates import ROLLUP_DIMENSIONS, ROLLUPS
from llmpulse.query.filters import iso_ms
from llmpulse.store.engine import Engine
from llmpulse.store.params import string_literal
from llmpulse.store.tables import DIMENSION_ROLLUP_1H, EVENTS, ROLLUP_1H

log = logging.getLogger(__name__)
State = Literal["queued", "running", "done", "failed"]
_DIMENSIONS = sorted(ROLLUP_DIMENSIONS)
_SINGLE_DIMENSIONS = sorted(ROLLUPS[1].dimensions)


@dataclass
class Job:
    id: str
    project: str
    from_ms: int
    to_ms: int | None
    state: State = "queued"
    changed: int = 0  # calls whose cost or cost_source changed
    cost_before: float = 0.0  # of the changed calls
    cost_after: float = 0.0
    progress: float = 0.0  # of the mutation's parts
    error: str | None = None
    queued_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    mutation: str | None = None
    parts_total: int = 0

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        del out["mutation"], out["parts_total"]
        out["from"] = iso_ms(out.pop("from_ms"))
        to_ms = out.pop("to_ms")
        out["to"] = iso_ms(to_ms) if to_ms is not None else None
        out["queued_at"] = iso_ms(int(self.queued_at * 1000))
        done = self.finished_at
        out["finished_at"] = iso_ms(int(done * 1000)) if done else None
        return out


@dataclass(frozen=True)
class Plan:
    """The new cost and cost_source of a call as SQL, and which calls to look at."""

    cost: Callable[[str], str]
    source: Callable[[str], str]
    where: Callable[[str], str]

    def changed(self, col: str) -> str:
        return (
            f"{self.where(col)} AND (ifNull({col}cost_usd, -1) != ifNull({self.cost(col)}, -1)"
            f" OR {col}cost_source != {self.source(col)})"
        )


class Recoster:
    """Queues and tracks re-costing jobs; `schedule` hands a job to the loader's thread."""

    def __init__(
        self,
        engine: Engine,
        book: PriceBook,
        registry: PriceRegistry,
        schedule: Callable[[Callable[[], bool]], None],
    ) -> None:
        self.engine, self.book, self.registry = engine, book, registry
        self._schedule = schedule
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, project: str, from_ms: int, to_ms: int | None = None) -> Job:
        job = Job(uuid.uuid4().hex[:12], project, from_ms, to_ms)
        with self._lock:
            self._jobs[job.id] = job
        self._schedule(lambda: self._run(job))
        return job

    def status(self, project: str, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is None or job.project != project:
            return None
        if job.state == "running":
            self._follow(job)
        return job

    def _run(self, job: Job) -> bool:
        """Steps 1 and 2 in the loader's thread; False while another mutation is pending."""
        if self._pending_mutations():
            return False
        job.state = "running"
        try:
            plan = self.plan(job.project, job.from_ms, job.to_ms)
            if plan is not None:
                self._apply(job, plan)
            if job.mutation is None:
                job.state, job.progress, job.finished_at = "done", 1.0, time.time()
            else:
                self._follow(job)
        except Exception as exc:  # the loader goes on; the job says what went wrong
            log.exception("re-costing %s failed", job.id)
            job.state, job.error, job.finished_at = "failed", str(exc), time.time()
        return True

    def plan(self, project: str, from_ms: int, to_ms: int | None) -> Plan | None:
        """The SQL of each call's new cost over the range; None when it holds no call."""
        time_where = f"{{col}}ts >= fromUnixTimestamp64Milli({from_ms})"
        if to_ms is not None:
            time_where += f" AND {{col}}ts < fromUnixTimestamp64Milli({to_ms})"
        base = (
            f"{{col}}project = {string_literal(project)} AND {time_where} "
            "AND {col}cost_source != 'reported'"
        )
        pairs = self.engine.rows(
            f"SELECT DISTINCT model_id, provider FROM {EVENTS} WHERE {base.replace('{col}', '')}"
        )
        if not pairs:
            return None
        dated = self.registry.get(project) or ProjectPrices()
        branches: list[tuple[str, str, str]] = []  # (condition, cost, source) with {col}
        for pair in pairs:
            model, provider = pair["model_id"], pair["provider"]
            schedule = self.book.schedule(model, provider or None)
            who = (
                f"{{col}}model_id = {string_literal(model)} "
                f"AND {{col}}provider = {string_literal(provider)}"
            )
            for seg in dated.segments(model, from_ms, to_ms):
                when = f"{who} AND {{col}}ts >= fromUnixTimestamp64Milli({seg.from_ms})"
                if seg.to_ms is not None:
                    when += f" AND {{col}}ts < fromUnixTimestamp64Milli({seg.to_ms})"
                if seg.override is not None:
                    cost = price_sql(seg.override.rates, "{col}")
                    source = "override"
                else:
                    cost, source = schedule_sql(schedule, "{col}"), schedule.source
                branches.append((when, cost, string_literal(source)))

        def pick(value: int, fallback: str) -> Callable[[str], str]:
            text = ", ".join(f"{b[0]}, {b[value]}" for b in branches)
            return lambda col: f"multiIf({text}, {fallback})".replace("{col}", col)

        return Plan(
            pick(1, "{col}cost_usd"),
            pick(2, "{col}cost_source"),
            lambda col: base.replace("{col}", col),
        )

    def _apply(self, job: Job, plan: Plan) -> None:
        changed = plan.changed("e.")
        found = self.engine.rows(
            f"SELECT count() AS n, sum(ifNull(e.cost_usd, 0)) AS before, "
            f"sum(ifNull({plan.cost('e.')}, 0)) AS after, "
            f"groupBitXor(cityHash64(e.event_id, ifNull({plan.cost('e.')}, -1), "
            f"{plan.source('e.')})) AS fingerprint FROM {EVENTS} AS e WHERE {changed}"
        )[0]
        job.changed, job.cost_before, job.cost_after = found["n"], found["before"], found["after"]
        if not job.changed:
            return
        token = f"recost:{job.project}:{found['fingerprint']}:{job.changed}"
        self._correct_rollups(plan, changed, token)
        self.engine.execute(
            f"ALTER TABLE {EVENTS} UPDATE cost_usd = {plan.cost('')}, "
            f"cost_source = {plan.source('')} WHERE {plan.changed('')}"
        )
        latest = self.engine.rows(
            "SELECT mutation_id FROM system.mutations WHERE database = currentDatabase() "
            f"AND table = '{EVENTS}' ORDER BY create_time DESC, mutation_id DESC LIMIT 1"
        )
        job.mutation = latest[0]["mutation_id"] if latest else None
        log.info("re-costing %s: %d calls of %s", job.id, job.changed, job.project)

    def _correct_rollups(self, plan: Plan, changed: str, token: str) -> None:
        deltas = (
            f"sum(ifNull({plan.cost('e.')}, 0)) - sum(ifNull(e.cost_usd, 0)) AS d_cost, "
            f"toInt64(countIf({plan.source('e.')} = 'unpriced')) "
            "- toInt64(countIf(e.cost_source = 'unpriced')) AS d_unpriced"
        )
        dims = ", ".join(f"e.{d}" for d in _DIMENSIONS)
        self.engine.execute(
            f"INSERT INTO {ROLLUP_1H} (project, hour, {', '.join(_DIMENSIONS)}, cost_usd, "
            f"unpriced) SELECT e.project, toStartOfHour(e.ts) AS d_hour, {dims}, {deltas} "
            f"FROM {EVENTS} AS e WHERE {changed} GROUP BY e.project, d_hour, {dims} "
            f"SETTINGS insert_deduplication_token = {string_literal(token + ':1h')}"
        )
        pairs = ", ".join(f"('{d}', toString(e.{d}))" for d in _SINGLE_DIMENSIONS)
        self.engine.execute(
            f"INSERT INTO {DIMENSION_ROLLUP_1H} (project, dimension, hour, value, cost_usd, "
            f"unpriced) SELECT e.project, d.1 AS d_dimension, toStartOfHour(e.ts) AS d_hour, "
            f"d.2 AS d_value, {deltas} FROM {EVENTS} AS e ARRAY JOIN [{pairs}] AS d "
            f"WHERE {changed} GROUP BY e.project, d_dimension, d_hour, d_value "
            f"SETTINGS insert_deduplication_token = {string_literal(token + ':dimension')}"
        )

    def _pending_mutations(self) -> bool:
        rows = self.engine.rows(
            "SELECT count() AS n FROM system.mutations WHERE database = currentDatabase() "
            f"AND table = '{EVENTS}' AND NOT is_done"
        )
        return bool(rows[0]["n"])

    def _follow(self, job: Job) -> None:
        rows = self.engine.rows(
            "SELECT is_done, parts_to_do, latest_fail_reason FROM system.mutations WHERE "
            "database = currentDatabase() AND table = {t:String} AND mutation_id = {m:String}",
            {"t": EVENTS, "m": job.mutation or ""},
        )
        if not rows or rows[0]["is_done"]:
            job.state, job.progress, job.finished_at = "done", 1.0, time.time()
            return
        to_do = int(rows[0]["parts_to_do"])
        job.parts_total = max(job.parts_total, to_do)
        job.progress = 1 - to_do / job.parts_total if job.parts_total else 0.0
        if rows[0]["latest_fail_reason"]:
            job.error = rows[0]["latest_fail_reason"]

"""Re-costing stored calls after a price change: each call's cost is computed again from its
tokens at the prices in force at its time (the project's dated overrides, the price file,
the catalogue), and the rollups are corrected with it.

How, so that nothing is counted twice or lost while ingest goes on:
1. A job starts once every call spooled before it was queued is stored (the loader says
   so: Loader.after_loaded), so none of them is loaded after it at an old price. Calls
   loaded meanwhile were priced at ingest by today's prices: the job leaves them as they
   are. Jobs run one at a time in their own thread, never while an earlier re-costing's
   mutation is still being applied (its calls would be changed twice).
2. For the calls whose cost changes, the difference (new - old) per rollup row is inserted
   into the three rollups (their sums take it). The insert's deduplication token is a hash of
   the changes: if the job dies before step 3, the next run computes the same changes and
   the repeated insert is dropped.
3. One ALTER TABLE ... UPDATE mutation (per shard on a cluster) sets the calls' new cost
   and cost_source; ClickHouse applies it part by part in the background, which is the
   progress the job reports.
Calls that say their own cost (`reported`) keep it. Running it twice changes nothing more.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from llmpulse.costs.pricing_sql import price_sql, schedule_sql
from llmpulse.pricing.dated import PriceRegistry, ProjectPrices
from llmpulse.pricing.prices import PriceBook
from llmpulse.query.aggregates import PRICED_TOKENS, ROLLUP_DIMENSIONS, ROLLUPS
from llmpulse.query.filters import iso_ms
from llmpulse.store.engine import Engine
from llmpulse.store.params import string_literal
from llmpulse.store.tables import COST_ROLLUP_1H, DIMENSION_ROLLUP_1H, EVENTS, ROLLUP_1H

log = logging.getLogger(__name__)
State = Literal["queued", "running", "done", "failed"]
_DIMENSIONS = sorted(ROLLUP_DIMENSIONS)
_SINGLE_DIMENSIONS = sorted(ROLLUPS[1].dimensions)
_COST_DIMENSIONS = sorted(ROLLUPS[2].dimensions)
POLL_S = 0.5


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
    mutations: list[str] = field(default_factory=list)  # the mutation's id on each shard
    parts_total: int = 0

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        del out["mutations"], out["parts_total"]
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
    """Queues and runs re-costing jobs, one at a time, each once `after_loaded` says the
    calls spooled before it are stored."""

    def __init__(
        self,
        engine: Engine,
        book: PriceBook,
        registry: PriceRegistry,
        after_loaded: Callable[[Callable[[], None]], None],
    ) -> None:
        self.engine, self.book, self.registry = engine, book, registry
        self._after_loaded = after_loaded
        self._jobs: dict[str, Job] = {}
        self._ready: queue.Queue[Job] = queue.Queue()
        threading.Thread(target=self._work, name="recost", daemon=True).start()

    def start(self, project: str, from_ms: int, to_ms: int | None = None) -> Job:
        job = Job(uuid.uuid4().hex[:12], project, from_ms, to_ms)
        self._jobs[job.id] = job
        self._after_loaded(lambda: self._ready.put(job))
        return job

    def status(self, project: str, job_id: str) -> Job | None:
        """The job as its thread last updated it (only that thread writes it)."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.project == project else None

    def _work(self) -> None:
        while True:
            job = self._ready.get()
            try:
                while self._pending_mutations():
                    time.sleep(POLL_S)
                job.state = "running"
                plan = self.plan(job.project, job.from_ms, job.to_ms)
                if plan is not None:
                    self._apply(job, plan)
                while job.mutations and not self._follow(job):
                    time.sleep(POLL_S)
                job.state, job.progress = "done", 1.0
            except Exception as exc:  # the next job still runs; this one says what failed
                log.exception("re-costing %s failed", job.id)
                job.state, job.error = "failed", str(exc)
            job.finished_at = time.time()

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
            f"{plan.source('e.')})) AS fingerprint, "
            "toUInt32(toDate(min(e.ts))) AS first_day, toUInt32(toDate(max(e.ts))) AS last_day "
            f"FROM {EVENTS} AS e WHERE {changed}"
        )[0]
        job.changed, job.cost_before, job.cost_after = found["n"], found["before"], found["after"]
        if not job.changed:
            return
        token = f"recost:{job.project}:{found['fingerprint']}:{job.changed}"
        # A day at a time: the store runs one statement at a time, so ingest and queries go
        # on between the days.
        for day in range(found["first_day"], found["last_day"] + 1):
            one_day = f"{changed} AND toDate(e.ts) = toDate({day})"
            self._correct_rollups(plan, one_day, f"{token}:{day}")
        # In the background (mutations_sync = 0): ClickHouse rewrites the parts meanwhile.
        job.mutations = []
        for shard in self.engine.shards():
            shard.execute(
                f"ALTER TABLE {EVENTS} UPDATE cost_usd = {plan.cost('')}, "
                f"cost_source = {plan.source('')} WHERE {plan.changed('')} "
                "SETTINGS mutations_sync = 0"
            )
            latest = shard.rows(
                "SELECT mutation_id FROM system.mutations WHERE database = currentDatabase() "
                f"AND table = '{EVENTS}' ORDER BY create_time DESC, mutation_id DESC LIMIT 1"
            )
            job.mutations.append(latest[0]["mutation_id"] if latest else "")
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
        new_priced, old_priced = f"{plan.cost('e.')} IS NOT NULL", "e.cost_usd IS NOT NULL"
        tokens = ", ".join(
            f"toInt64(sumIf({sql}, {new_priced})) - toInt64(sumIf({sql}, {old_priced}))"
            for sql in PRICED_TOKENS.values()
        )
        cost_keys = ", ".join(f"e.{d}" for d in _COST_DIMENSIONS)
        self.engine.execute(
            f"INSERT INTO {COST_ROLLUP_1H} (project, hour, {', '.join(_COST_DIMENSIONS)}, "
            f"cost_usd, unpriced, priced, {', '.join(PRICED_TOKENS)}) "
            f"SELECT e.project, toStartOfHour(e.ts) AS d_hour, {cost_keys}, {deltas}, "
            f"toInt64(countIf({new_priced})) - toInt64(countIf({old_priced})), {tokens} "
            f"FROM {EVENTS} AS e WHERE {changed} GROUP BY e.project, d_hour, {cost_keys} "
            f"SETTINGS insert_deduplication_token = {string_literal(token + ':cost')}"
        )
        # Per dimension value: summed by every dimension at once first, so the fan-out to
        # one row per dimension is over those sums, not over each call.
        single = ", ".join(f"toString(e.{d}) AS d_{d}" for d in _SINGLE_DIMENSIONS)
        keys = ", ".join(f"d_{d}" for d in _SINGLE_DIMENSIONS)
        pairs = ", ".join(f"('{d}', d_{d})" for d in _SINGLE_DIMENSIONS)
        self.engine.execute(
            f"INSERT INTO {DIMENSION_ROLLUP_1H} (project, dimension, hour, value, cost_usd, "
            f"unpriced) SELECT d_project, d.1 AS d_dimension, d_hour, d.2 AS d_value, "
            f"sum(d_cost), sum(d_unpriced) FROM (SELECT e.project AS d_project, "
            f"toStartOfHour(e.ts) AS d_hour, {single}, {deltas} FROM {EVENTS} AS e "
            f"WHERE {changed} GROUP BY d_project, d_hour, {keys}) ARRAY JOIN [{pairs}] AS d "
            f"GROUP BY d_project, d_dimension, d_hour, d_value "
            f"SETTINGS insert_deduplication_token = {string_literal(token + ':dimension')}"
        )

    def _pending_mutations(self) -> bool:
        return any(
            shard.rows(
                "SELECT count() AS n FROM system.mutations WHERE database = currentDatabase() "
                f"AND table = '{EVENTS}' AND NOT is_done"
            )[0]["n"]
            for shard in self.engine.shards()
        )

    def _follow(self, job: Job) -> bool:
        """Update the job's progress from its mutations; True when every one is done."""
        to_do, errors = 0, []
        for shard, mutation in zip(self.engine.shards(), job.mutations, strict=True):
            rows = shard.rows(
                "SELECT parts_to_do, latest_fail_reason FROM system.mutations WHERE NOT is_done "
                "AND database = currentDatabase() AND table = {t:String} "
                "AND mutation_id = {m:String}",
                {"t": EVENTS, "m": mutation},
            )
            if rows:
                to_do += int(rows[0]["parts_to_do"])
                errors.append(rows[0]["latest_fail_reason"])
        if not to_do and not errors:
            return True
        job.parts_total = max(job.parts_total, to_do)
        job.progress = 1 - to_do / job.parts_total if job.parts_total else 0.0
        job.error = "; ".join(filter(None, errors)) or None  # ClickHouse retries it
        return False

"""Experiment reports, retention, funnels, sessions and adoption over 10 million events of
50,000 users over 90 days, with 3 experiments (users split A/B) and 200,000 scores.

The events are generated inside ClickHouse straight into a fresh store: each user has a
first day and comes back less and less often after it; calls belong to sessions and to
features (search, summarize, refine, export). Then `llmpulse serve` runs on that store and
each answer is timed over HTTP (median of 5).
Run: python bench/analytics.py [--events 10000000] [--users 50000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from common import generate, machine, rss_mib, start_server, timed
from llmpulse.analytics import product
from llmpulse.query.filters import Scope
from llmpulse.store import open_engine
from llmpulse.store.migrate import migrate

DAYS = 90
EXPERIMENTS = ("prompt-v3", "model-swap", "canary-router")
FEATURES = ("search", "summarize", "refine", "export")


def fill(data_dir: Path, events: int, users: int, scores: int) -> float:
    """Generate the events and scores in the store; returns the seconds taken."""
    engine = open_engine(f"chdb://{data_dir / 'store'}")
    migrate(engine)
    end = datetime.now(UTC).replace(microsecond=0)
    start_s = int((end - timedelta(days=DAYS)).timestamp())
    experiments = "[" + ",".join(f"'{e}'" for e in EXPERIMENTS) + "]"
    features = "[" + ",".join(f"'{f}'" for f in FEATURES) + "]"

    def chunk_sql(offset: int, n: int) -> str:
        # A user's first day is spread over the 90 days; each call lands a number of days
        # after it drawn from an exponential (mean 12 days), so activity decays; the calls
        # of a user's day make up to 3 sessions, each walking the features in order.
        return f"""
            INSERT INTO llm_events (project, ts, event_id, received_at, model_id, provider,
                feature, experiment_name, experiment_variant, operation, status, error_type,
                user_id, session_id, latency_ms, ttft_ms, tokens_in, tokens_out, cost_usd,
                cost_source)
            SELECT 'default', ts, generateUUIDv4(number), ts, 'gpt-4o-mini', 'openai',
                {features}[1 + toUInt8(least(3, floor(-log(1 - r_step) * 1.2)))],
                {experiments}[1 + (u % 3)], if(cityHash64(u, 9) % 2 = 0, 'A', 'B'), 'chat',
                if(err, 'error', 'ok'), if(err, 'timeout', ''),
                concat('user_', toString(u)), concat('s_', toString(u), '_', toString(day), '_', toString(h % 3)),
                latency, least(latency, latency * 0.3), 500, if(err, 0, 200 + h % 200),
                (500 * 0.15 + (200 + h % 200) * 0.6) / 1e6, 'catalogue'
            FROM (
                SELECT number,
                    cityHash64(number + {offset}, 1) % {users} AS u,
                    cityHash64(u, 2) % {DAYS} AS first_day,
                    least({DAYS} - 1, first_day + toUInt32(floor(-log(1 - (cityHash64(number + {offset}, 3) % 1000000) / 1e6) * 12))) AS day,
                    cityHash64(number + {offset}, 4) AS h,
                    (cityHash64(number + {offset}, 5) % 1000000) / 1e6 AS r_step,
                    fromUnixTimestamp64Milli(toInt64(({start_s} + toInt64(day) * 86400 + toInt64(h % 3) * 20000) * 1000 + toInt64(r_step * 3600000)), 'UTC') AS ts,
                    (h % 1000) < if(cityHash64(u, 9) % 2 = 0, 40, 55) AS err,
                    round(600 * exp(0.5 * randNormal(0, 1)) * if(cityHash64(u, 9) % 2 = 0, 1.0, 1.08), 2) AS latency
                FROM numbers({n})
            )
        """  # fmt: skip

    started = time.perf_counter()
    generate(engine, events, chunk_sql)
    engine.execute(f"""
        INSERT INTO scores (project, score_id, ts, received_at, event_id, trace_id, name,
            data_type, value, category, source, comment)
        SELECT 'default', toString(e.event_id), e.ts, e.ts, toString(e.event_id), '', 'helpfulness',
            'numeric', 1 + cityHash64(e.event_id, 7) % 5, '', 'user', ''
        FROM (SELECT event_id, ts FROM llm_events
              WHERE cityHash64(event_id) % {max(1, events // scores)} = 0 LIMIT {scores}) AS e
    """)  # fmt: skip
    engine.execute("OPTIMIZE TABLE llm_events FINAL")
    engine.close()
    return time.perf_counter() - started


def exact_funnel(data_dir: Path, steps: str) -> dict[str, Any]:
    """The funnel with the median times over every user, to compare the sampled ones with
    (the server is stopped: one process per chDB store)."""
    engine = open_engine(f"chdb://{data_dir / 'store'}")
    product.GAP_SAMPLE_CALLS = 1 << 62  # type: ignore[misc]  # every user, for reference
    end = datetime.now(UTC)
    scope = Scope("default", end - timedelta(days=DAYS + 1), end)
    answer = product.funnel(engine, scope, product.parse_steps(steps), 3600)
    engine.close()
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--scores", type=int, default=200_000)
    args = parser.parse_args()
    steps = ",".join(f"feature:{f}" for f in FEATURES)
    span = {"from": f"-{DAYS + 1}d"}
    queries = {
        "experiment report (1 of 3; unit detected: user)": (
            f"/v1/experiments/{EXPERIMENTS[0]}",
            span,
        ),
        "experiment report, by call": (
            f"/v1/experiments/{EXPERIMENTS[0]}",
            {**span, "unit": "event"},
        ),
        "experiment report, fixed, by user": (
            f"/v1/experiments/{EXPERIMENTS[0]}",
            {**span, "method": "fixed", "unit": "user"},
        ),
        "experiments list": ("/v1/experiments", span),
        "retention, 90 daily cohorts": ("/v1/analytics/retention", span),
        "retention, weekly, by experiment": (
            "/v1/analytics/retention",
            {**span, "period": "week", "group_by": "experiment"},
        ),
        "funnel, 4 steps, 1h window": ("/v1/analytics/funnel", {**span, "steps": steps}),
        "sessions and churn, daily": ("/v1/analytics/sessions", span),
        "feature adoption, weekly": ("/v1/analytics/adoption", {**span, "period": "week"}),
        "experiment timeline (24 reports)": (f"/v1/experiments/{EXPERIMENTS[0]}/timeline", span),
    }
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        fill_s = fill(data_dir, args.events, args.users, args.scores)
        proc, url = start_server(data_dir)
        results = []
        with httpx.Client(base_url=url, timeout=600) as http:
            for name, (path, params) in queries.items():
                runs = 1 if "timeline" in name else 5
                results.append((name, timed(http, path, params, runs)[0], runs))
            funnel = http.get("/v1/analytics/funnel", params={**span, "steps": steps}).json()
        rss = rss_mib(proc.pid)
        proc.terminate()
        proc.wait()
        exact = exact_funnel(data_dir, steps)
    print(f"machine: {machine()}")
    print(
        f"events: {args.events:,} of {args.users:,} users over {DAYS} days, "
        f"{len(EXPERIMENTS)} experiments, {args.scores:,} scores (generated in {fill_s:.1f}s)"
    )
    for name, ms, runs in results:
        print(f"{name}: {ms:.0f} ms" + (f" median of {runs}" if runs > 1 else " (one run)"))
    print(f"server RSS after the queries: {rss:.0f} MiB")
    print(
        f"funnel median times over {funnel['median_users_share']:.0%} of the users, "
        "against all of them (s): "
        + ", ".join(
            f"{s['median_s_from_previous']:.1f} vs {e['median_s_from_previous']:.1f}"
            for s, e in list(zip(funnel["steps"], exact["steps"], strict=True))[1:]
        )
    )


if __name__ == "__main__":
    main()

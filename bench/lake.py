"""The lake and exports over generated events (default 10 million over 30 days, one
project): silver export to local Parquet, backfill of that silver into a new store,
Parquet bytes per call, then the streamed CSV export of every call over HTTP with the
server's memory sampled throughout.

The events are generated inside ClickHouse straight into a fresh store (no prompts: the
size of prompt text would measure zstd, not the lake). Run: python bench/lake.py [--events N]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import httpx

from common import fresh_store, generate, machine, rss_mib, start_server

DAYS = 30


def fill(data_dir: Path, events: int) -> float:
    engine, _, start_s, span_ms = fresh_store(data_dir, DAYS)

    def chunk_sql(offset: int, n: int) -> str:
        return f"""
            INSERT INTO llm_events (project, ts, event_id, received_at, source, model_id,
                provider, feature, operation, status, error_type, user_id, session_id,
                latency_ms, ttft_ms, tokens_in, tokens_out, cost_usd, cost_source)
            SELECT 'default', ts, generateUUIDv4(number), ts, 'http',
                ['gpt-4o','gpt-4o-mini','claude-sonnet-4-5'][1 + h % 3],
                ['openai','openai','anthropic'][1 + h % 3],
                ['search','summarize','chat'][1 + intDiv(h, 7) % 3], 'chat',
                if(h % 50 = 0, 'error', 'ok'), if(h % 50 = 0, 'timeout', ''),
                concat('u', toString(h % 5000)), concat('s', toString(h % 200000)),
                round(600 * exp(0.5 * randNormal(0, 1)), 3), if(h % 2 = 0, 120.5, NULL),
                300 + h % 900, 100 + h % 400, 0.0001 * (h % 97), 'catalogue'
            FROM (
                SELECT number, cityHash64(number + {offset}) AS h,
                    fromUnixTimestamp64Milli(toInt64({start_s} * 1000 + (number + {offset}) * {span_ms} / {events}), 'UTC') AS ts
                FROM numbers({n})
            )
        """  # fmt: skip

    started = time.perf_counter()
    generate(engine, events, chunk_sql)
    engine.execute("OPTIMIZE TABLE llm_events FINAL")
    engine.close()
    return time.perf_counter() - started


def lake_round_trip(data_dir: Path, lake: Path) -> dict[str, float]:
    from llmpulse.lake.backfill import backfill
    from llmpulse.lake.destination import Destination
    from llmpulse.lake.export import export
    from llmpulse.store import open_engine
    from llmpulse.store.migrate import migrate

    engine = open_engine(f"chdb://{data_dir / 'store'}")
    started = time.perf_counter()
    result = export(engine, Destination(str(lake)), ["silver"], settle_ms=0)
    exported_s = time.perf_counter() - started
    engine.close()
    assert result.manifest is not None
    rows = sum(f.rows for f in result.manifest.files)
    size = sum(f.bytes for f in result.manifest.files)

    # chDB opens one store per process: the backfill's target is a second process's job,
    # but timing it here is the point, so the first store is closed and a new one opened.
    target = open_engine(f"chdb://{data_dir.parent / 'copy' / 'store'}")
    migrate(target)
    started = time.perf_counter()
    loaded = backfill(target, Destination(str(lake)))
    backfill_s = time.perf_counter() - started
    target.close()
    assert loaded.rows_inserted == rows, (loaded, rows)
    return {"rows": rows, "export_s": exported_s, "backfill_s": backfill_s,
            "bytes_per_event": size / rows, "files": len(result.manifest.files)}  # fmt: skip


def streamed_csv(data_dir: Path) -> dict[str, float]:
    proc, url = start_server(data_dir)
    try:
        before = rss_mib(proc.pid)
        peak = before
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_mib(proc.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        size = lines = 0
        params = {"from": f"-{DAYS + 1}d", "format": "csv"}
        with httpx.stream("GET", f"{url}/v1/export/events", params=params, timeout=None) as r:
            for chunk in r.iter_bytes():
                size += len(chunk)
                lines += chunk.count(b"\n")
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        return {"rows": lines - 1, "seconds": elapsed, "mib": size / 2**20,
                "rss_before_mib": before, "rss_growth_mib": peak - before}  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        print(f"generated {args.events:,} events in {fill(data_dir, args.events):.1f} s")
        lake = lake_round_trip(data_dir, Path(tmp) / "lake")
        print(f"silver export: {lake['rows']:,.0f} calls in {lake['export_s']:.1f} s "
              f"({lake['files']:.0f} files, {lake['bytes_per_event']:.1f} bytes per call)")  # fmt: skip
        print(f"backfill into a new store: {lake['backfill_s']:.1f} s")
        csv = streamed_csv(data_dir)
        print(f"CSV export over HTTP: {csv['rows']:,.0f} rows, {csv['mib']:,.0f} MiB in "
              f"{csv['seconds']:.1f} s; server RSS {csv['rss_before_mib']:.0f} MiB at start, "
              f"grew {csv['rss_growth_mib']:.0f} MiB at most")  # fmt: skip


if __name__ == "__main__":
    main()

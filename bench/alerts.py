"""Alert evaluation over 10 million stored events: one evaluation round of 100 rules (20
grouped by model), the delay from a burst of failing calls to the webhook, and a 7-day
backtest of one rule.

The events are generated inside ClickHouse as in bench/query.py; `llmpulse serve` runs on
them with the rules evaluated in the background every 10 s, a local webhook receiving.
Run: python bench/alerts.py [--events 10000000] [--rules 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from common import free_port, machine, rss_mib, start_server
from query import fill

METRICS = ("error_rate", "latency_p95", "ttft_p95", "cost_usd", "requests", "tokens_out",
           "unpriced_share", "latency_p99", "cost_per_call", "tokens_per_s")  # fmt: skip
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "claude-haiku-4-5", "gemini-2.5-flash",
          "grok-4", "llama3.1:8b")  # fmt: skip
WINDOWS = ("5m", "15m", "1h", "6h", "1d")


def rules(count: int, grouped: int) -> list[dict[str, Any]]:
    """`count` rules over assorted metrics, windows and filters; `grouped` of them by model.
    Thresholds no one reaches: the round's cost is measuring, not notifying."""
    out = []
    for n in range(count):
        metric = METRICS[n % len(METRICS)]
        rule: dict[str, Any] = {"name": f"bench {n}", "metric": metric, "every": "10s",
                                "window": WINDOWS[n % len(WINDOWS)], "critical": 1e12}  # fmt: skip
        if metric == "tokens_per_s":
            rule.update(comparison="<", critical=-1)
        if n < grouped:
            rule["group_by"] = ["model_id"]
        elif n % 3 == 0:
            rule["filters"] = {"model_id": [MODELS[n % len(MODELS)]]}
        out.append(rule)
    return out


class Hook:
    """A local webhook receiver keeping when each alert arrived, by rule id."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import json

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.arrived.setdefault(body["rule"]["id"], time.monotonic())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--grouped", type=int, default=20)
    args = parser.parse_args()
    hook = Hook()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        fill_s, _ = fill(data_dir, args.events, 7)
        # Rounds timed alone: the server's own evaluation off, so no round waits for another.
        proc, url = start_server(data_dir, "--no-alerts")
        with httpx.Client(base_url=url, timeout=300) as http:
            for n, rule in enumerate(rules(args.rules, args.grouped)):
                assert http.put(f"/v1/alerts/rules/bench-{n}", json=rule).status_code == 200
            rounds = []
            for _ in range(5):
                t0 = time.perf_counter()
                assert http.post("/v1/alerts/evaluate").status_code == 200
                rounds.append(time.perf_counter() - t0)
            instances = len(http.get("/v1/alerts").json()["alerts"])
        proc.terminate()
        proc.wait()
        # Then as deployed: every rule evaluated in the background every 10 s.
        proc, url = start_server(data_dir)
        with httpx.Client(base_url=url, timeout=300) as http:
            channel = {"name": "hook", "type": "webhook", "url": f"http://127.0.0.1:{hook.port}"}
            assert http.put("/v1/alerts/channels/hook", json=channel).status_code == 200
            delays = []
            for n in range(3):
                model = f"detect-{n}"
                rule = {"name": model, "metric": "error_rate", "critical": 0.5, "window": "5m",
                        "every": "10s", "filters": {"model_id": [model]}, "channels": ["hook"]}  # fmt: skip
                assert http.put(f"/v1/alerts/rules/{model}", json=rule).status_code == 200
                time.sleep(12)  # the rule evaluated at least once, quiet
                failing = [{"model_id": model, "latency_ms": 100, "status": "error"}] * 20
                sent = time.monotonic()
                assert http.post("/v1/events", json=failing).status_code == 202
                while model not in hook.arrived:
                    assert time.monotonic() - sent < 120, "no webhook"
                    time.sleep(0.05)
                delays.append(hook.arrived[model] - sent)

            draft = {"name": "p95", "metric": "latency_p95", "critical": 3000, "window": "1h",
                     "every": "5m", "group_by": ["model_id"]}  # fmt: skip
            backtests = []
            for _ in range(3):
                t0 = time.perf_counter()
                r = http.post("/v1/alerts/rules/backtest", json={"rule": draft, "from": "-7d"})
                backtests.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text[:300]
            replay = r.json()
        rss = rss_mib(proc.pid)
        proc.terminate()
        proc.wait()
    print(f"machine: {machine()}")
    print(f"events: {args.events:,} over 7 days (generated in {fill_s:.0f} s)")
    print(f"evaluation round of {args.rules} rules ({args.grouped} grouped by model, "
          f"{instances} instances): median {statistics.median(rounds) * 1000:.0f} ms, "
          f"max {max(rounds) * 1000:.0f} ms (5 rounds)")  # fmt: skip
    print(
        "detection delay, failing calls sent -> webhook received, 10 s interval, for 0: "
        + ", ".join(f"{d:.1f} s" for d in delays)
    )
    print(f"backtest of a p95 rule by model over 7 days ({replay['evaluations']} steps of "
          f"{replay['step']} s, {len(replay['series'])} models): median "
          f"{statistics.median(backtests) * 1000:.0f} ms (3 runs)")  # fmt: skip
    print(f"server RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()

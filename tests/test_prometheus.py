"""Prometheus against a real LLMPulse: a real Prometheus scrapes /metrics with a project's
key and answers the GenAI series (counts computed here from the events sent); the shipped
rules pass promtool's checks and unit tests and load in Prometheus; every query of the
shipped Grafana dashboard is answered; an alert of the shipped rules reaches a real
Alertmanager and its webhook. Debian's prometheus and prometheus-alertmanager (.ci/run
installs them)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from alert_receivers import Receiver, eventually
from conftest import Server, free_port, new_project_key

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "llmpulse-rules.yml"
pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="needs Debian's prometheus (apt-get install prometheus)",
)


class Prometheus:
    """A private Prometheus scraping one LLMPulse every second, with the given rules."""

    def __init__(self, folder: Path, target: Server, key: str, rules: Path | None = None,
                 alertmanager: str | None = None) -> None:  # fmt: skip
        folder.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{
                "job_name": "llmpulse", "authorization": {"credentials": key},
                "static_configs": [{"targets": [f"127.0.0.1:{target.port}"]}],
            }],
        }  # fmt: skip
        if rules is not None:
            config["rule_files"] = [str(rules)]
        if alertmanager is not None:
            config["alerting"] = {
                "alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]
            }
        (folder / "prom.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc = subprocess.Popen(
            ["prometheus", f"--config.file={folder / 'prom.yml'}",
             f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(folder / "prom.log", "wb"),  # noqa: SIM115
        )  # fmt: skip
        eventually(self._ready, timeout=30)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def query(self, expr: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", (expr, answer)
        return dict(answer["data"])

    def values(self, expr: str, label: str) -> dict[str, float]:
        return {
            r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(expr)["result"]
        }

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(30)


@pytest.fixture
def llmpulse(fresh_server: Server) -> Iterator[tuple[Server, str]]:
    server = fresh_server.start()
    yield server, new_project_key(server)


def events(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        model = "gpt-4o" if i % 3 else "claude-sonnet-4-5"
        latency = float(rng.lognormal(6.0, 0.8))
        event = {"event_id": f"prom-{seed}-{i}", "model_id": model, "latency_ms": latency,
                 "tokens_in": int(rng.integers(10, 3000)),
                 "tokens_out": int(rng.integers(1, 800))}  # fmt: skip
        if i % 4 == 0:
            event["ttft_ms"] = latency / 4
        if i % 10 == 0:
            event.update(status="error", error_type="rate_limit")
        out.append(event)
    return out


def test_prometheus_scrapes_the_projects_genai_metrics(
    llmpulse: tuple[Server, str], tmp_path: Path
) -> None:
    server, key = llmpulse
    sent = events(1200, seed=5)
    with server.client(key) as http:
        assert http.post("/v1/events", json=sent).status_code == 202
        http.post("/v1/events", json=sent[:100])  # a retry: stored, and counted, once
    server.wait_loaded()
    prometheus = Prometheus(tmp_path / "prom", server, key, rules=RULES)
    try:
        series = "gen_ai_client_operation_duration_seconds_count"
        eventually(lambda: bool(prometheus.query(series)["result"]), timeout=30)
        counts = prometheus.values(
            f"sum by (gen_ai_request_model) ({series})", "gen_ai_request_model"
        )
        models = [e["model_id"] for e in sent]
        assert counts == {m: float(models.count(m)) for m in set(models)}
        errors = prometheus.values(f'sum({series}{{error_type="rate_limit"}})', "")
        assert errors == {"": float(sum(1 for e in sent if e.get("status") == "error"))}
        latency_s = np.array([e["latency_ms"] for e in sent]) / 1000
        fast = prometheus.values(
            'sum(gen_ai_client_operation_duration_seconds_bucket{le="0.64"})', ""
        )
        assert fast == {"": float((latency_s <= 0.64).sum())}
        tokens = prometheus.values("sum by (gen_ai_token_type) (gen_ai_client_token_usage_sum)",
                                   "gen_ai_token_type")  # fmt: skip
        assert tokens == {"input": float(sum(e["tokens_in"] for e in sent)),
                          "output": float(sum(e["tokens_out"] for e in sent))}  # fmt: skip
        ttft = prometheus.values("sum(gen_ai_server_time_to_first_token_seconds_count)", "")
        assert ttft == {"": float(sum(1 for e in sent if "ttft_ms" in e))}
        # The pipeline's own health series, and the shipped rules, loaded and healthy.
        assert prometheus.query("llmpulse_loader_lag_seconds")["result"]
        rules = httpx.get(f"{prometheus.url}/api/v1/rules").json()["data"]["groups"]
        assert {g["name"] for g in rules} == {"llmpulse-recording", "llmpulse-alerts"}
        eventually(lambda: all(r["health"] == "ok" for g in httpx.get(
            f"{prometheus.url}/api/v1/rules").json()["data"]["groups"] for r in g["rules"]))  # fmt: skip

        # Every query of the Grafana dashboard is answered (as Grafana would send it).
        dashboard = json.loads((DEPLOY / "grafana" / "llmpulse.json").read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        assert len(exprs) >= 12
        for expr in exprs:
            prometheus.query(expr.replace("$__rate_interval", "1m"))
    finally:
        prometheus.stop()


def test_metrics_without_a_read_key_hold_no_project_series(llmpulse: tuple[Server, str]) -> None:
    server, key = llmpulse
    with server.client(key) as http:
        assert http.post("/v1/events", json=events(10, seed=1)).status_code == 202
    server.wait_loaded()
    anonymous = httpx.get(f"{server.url}/metrics").text
    assert "gen_ai_" not in anonymous and "llmpulse_loader_lag_seconds" in anonymous
    with server.client(key) as http:
        assert "gen_ai_client_operation_duration_seconds_bucket" in http.get("/metrics").text
    other = new_project_key(server)
    with server.client(other) as http:
        assert "gpt-4o" not in http.get("/metrics").text


def test_shipped_rules_pass_promtool(tmp_path: Path) -> None:
    check = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run(["promtool", "test", "rules", "llmpulse-rules.test.yml"],
                           capture_output=True, text=True, cwd=RULES.parent)  # fmt: skip
    assert tests.returncode == 0 and "SUCCESS" in tests.stdout, tests.stdout + tests.stderr


@pytest.mark.skipif(shutil.which("prometheus-alertmanager") is None, reason="needs alertmanager")
def test_shipped_alert_reaches_alertmanager(llmpulse: tuple[Server, str], tmp_path: Path) -> None:
    """The shipped error-rate alert, its `for` cut to nothing, fires on a real Prometheus
    scraping LLMPulse and arrives at a webhook through a real Alertmanager."""
    server, key = llmpulse
    hook = Receiver(200)
    am_port = free_port()
    am_config = {"route": {"receiver": "hook", "group_by": ["alertname"], "group_wait": "1s",
                           "group_interval": "1s", "repeat_interval": "1h"},
                 "receivers": [{"name": "hook", "webhook_configs": [{"url": f"{hook.url}/am"}]}]}  # fmt: skip
    (tmp_path / "am.yml").write_text(yaml.safe_dump(am_config))
    alertmanager = subprocess.Popen(
        ["prometheus-alertmanager", f"--config.file={tmp_path / 'am.yml'}",
         f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
         "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = "0s"
    fast = tmp_path / "rules.yml"
    fast.write_text(yaml.safe_dump(rules))
    prometheus = Prometheus(tmp_path / "prom", server, key, rules=fast,
                            alertmanager=f"127.0.0.1:{am_port}")  # fmt: skip
    try:
        failing = [{"model_id": "gpt-4o", "latency_ms": 100,
                    **({"status": "error", "error_type": "timeout"} if i % 2 else {})}
                   for i in range(200)]  # fmt: skip
        with server.client(key) as http:
            # A few calls first, scraped: a counter's first sample is where its rate starts.
            assert http.post("/v1/events", json=failing[:4]).status_code == 202
            eventually(lambda: len(prometheus.query(
                "gen_ai_client_operation_duration_seconds_count")["result"]) == 2)  # fmt: skip
            time.sleep(2)
            assert http.post("/v1/events", json=failing[4:]).status_code == 202

        def error_alerts() -> list[dict[str, Any]]:
            return [a for _, _, _, body in hook.requests for a in body["alerts"]
                    if a["labels"]["alertname"] == "LLMErrorRateHigh"]  # fmt: skip

        eventually(lambda: bool(error_alerts()), timeout=60)
        fired = error_alerts()[0]
        assert fired["labels"]["gen_ai_request_model"] == "gpt-4o"
        assert fired["labels"]["severity"] == "critical" and fired["status"] == "firing"
        assert fired["annotations"]["summary"] == "gpt-4o: 50% of calls fail"
    finally:
        prometheus.stop()
        alertmanager.terminate()
        alertmanager.wait(30)
        hook.stop()

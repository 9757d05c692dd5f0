"""Acknowledged means durable, counted once: kill -9, restarts, retries and replays."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from conftest import ADMIN_KEY, Server, drop_store
from llmpulse.sim.traffic import TrafficGenerator


def stored_events(server: Server, key: str = ADMIN_KEY) -> list[dict[str, Any]]:
    """Every event of the project as stored (raw rows), via the paginated request log."""
    events: list[dict[str, Any]] = []
    cursor = None
    with server.client(key) as http:
        while True:
            params: dict[str, Any] = {"from": "-2d", "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = http.get("/v1/requests", params=params).json()
            events += page["requests"]
            if not (cursor := page["next_cursor"]):
                return events


def stored_ids(server: Server, key: str = ADMIN_KEY) -> list[str]:
    return [e["event_id"] for e in stored_events(server, key)]


def summary(server: Server, key: str, **params: str) -> dict[str, Any]:
    with server.client(key) as http:
        r = http.get("/v1/metrics/summary", params={"from": "-2d", **params})
    assert r.status_code == 200, r.text
    return dict(r.json())


class Senders:
    """Three threads posting batches until stopped or refused; the batches the server
    acknowledged (202) are kept."""

    def __init__(self, server: Server, batches: list[list[dict[str, Any]]]) -> None:
        self.acknowledged: list[list[dict[str, Any]]] = []
        self.statuses: set[int] = set()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._send, args=(server.url, batches[i::3])) for i in range(3)
        ]
        for t in self._threads:
            t.start()

    def _send(self, url: str, mine: list[list[dict[str, Any]]]) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10) as http:
            for batch in mine:
                if self._stop.is_set():
                    return
                try:
                    r = http.post(f"{url}/v1/events", content=orjson.dumps(batch),
                                  headers={"Content-Type": "application/json"})  # fmt: skip
                except httpx.TransportError:
                    return
                self.statuses.add(r.status_code)
                if r.status_code == 202:
                    self.acknowledged.append(batch)

    def wait_for(self, batches: int) -> None:
        deadline = time.monotonic() + 120
        while len(self.acknowledged) < batches:
            assert time.monotonic() < deadline, "the server acknowledged too little to test"
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self.join()

    def join(self) -> None:
        """Until every batch is sent."""
        for t in self._threads:
            t.join()


def test_kill_9_loses_no_acknowledged_event(fresh_server: Server) -> None:
    server = fresh_server.start()
    gen = TrafficGenerator(seed=3)
    now = datetime.now(UTC)
    batches = [
        [gen.event(now - timedelta(seconds=i * 300 + j)) for j in range(300)] for i in range(400)
    ]
    senders = Senders(server, batches)
    senders.wait_for(60)
    server.kill9()
    senders.stop()
    acknowledged = senders.acknowledged
    assert len(acknowledged) < len(batches), "the kill came too late to test anything"

    server.start()
    server.wait_loaded()
    ids = stored_ids(server)
    acked = {e["event_id"] for batch in acknowledged for e in batch}
    assert acked <= set(ids), f"{len(acked - set(ids))} acknowledged events lost"
    assert len(ids) == len(set(ids)), "an event is stored twice"

    # Now every batch arrives (the acknowledged ones a second time): each counted once.
    with server.client() as http:
        for batch in batches:
            r = http.post(
                "/v1/events",
                content=orjson.dumps(batch),
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code == 202
    server.wait_loaded()
    print(
        "RAW",
        len(stored_ids(server)),
        "SUMMARY",
        summary(server, ADMIN_KEY)["groups"][0]["requests"],
    )
    assert summary(server, ADMIN_KEY)["groups"][0]["requests"] == sum(len(b) for b in batches)


def test_ctrl_c_while_ingesting_stops_cleanly(fresh_server: Server) -> None:
    """Ctrl-C reaches the server and its worker processes at once (the whole process
    group): the server still shuts down in order, answering no request with a 500, and
    what it acknowledged is stored."""
    server = fresh_server.start()
    gen = TrafficGenerator(seed=5)
    now = datetime.now(UTC)
    batches = [[gen.event(now - timedelta(seconds=i * 100 + j)) for j in range(100)]
               for i in range(3000)]  # fmt: skip
    senders = Senders(server, batches)
    senders.wait_for(30)
    server.interrupt()
    senders.stop()
    assert senders.statuses <= {202, 503}, f"answered {senders.statuses} while stopping"
    log = server.log.read_text()
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]

    server.start()
    server.wait_loaded()
    acked = {e["event_id"] for batch in senders.acknowledged for e in batch}
    assert acked <= set(stored_ids(server))


def test_resent_batch_changes_no_count(server: Server, project_key: str) -> None:
    gen = TrafficGenerator(seed=11)
    now = datetime.now(UTC)
    batch = [gen.event(now - timedelta(seconds=i)) for i in range(500)]
    # Events without ts get the time of receipt; a retry is still recognised by event_id.
    for e in batch[:50]:
        del e["ts"]
    # Client ids that are not UUIDs are accepted and deduplicated too.
    for i, e in enumerate(batch[50:100]):
        e["event_id"] = f"client-id-{i}"

    def answers() -> list[dict[str, Any]]:
        return [
            summary(server, project_key, group_by="model_id"),
            summary(server, project_key, group_by="error_type,experiment_variant"),
        ]

    with server.client(project_key) as http:
        assert http.post("/v1/events", json=batch).json()["accepted"] == 500
        server.wait_loaded()
        before = answers()
        assert sum(g["requests"] for g in before[0]["groups"]) == 500
        time.sleep(0.05)  # so ts-less events would get a different ts if they were new
        assert http.post("/v1/events", json=batch).json()["accepted"] == 500
        assert http.post("/v1/events", json=batch[:10] + batch[:10]).status_code == 202
        server.wait_loaded()
        after = answers()
    assert after == before
    assert len(stored_ids(server, project_key)) == 500


def test_duplicates_within_one_request_counted_once(server: Server, project_key: str) -> None:
    event = {"event_id": str(uuid.uuid4()), "model_id": "gpt-4o", "latency_ms": 10}
    with server.client(project_key) as http:
        r = http.post("/v1/events", json=[event, event, event])
    assert r.status_code == 202
    server.wait_loaded()
    assert summary(server, project_key)["groups"][0]["requests"] == 1


def test_torn_spool_tail_is_cut_and_good_records_load(fresh_server: Server, tmp_path: Path) -> None:
    server = fresh_server.start()
    with server.client() as http:
        assert (
            http.post("/v1/events", json=[{"model_id": "m", "latency_ms": 1}] * 5).status_code
            == 202
        )
    server.kill9()
    # A crash mid-append leaves a partial record, never acknowledged.
    segment = sorted((server.data_dir / "spool").glob("segment-*.log"))[-1]
    with open(segment, "ab") as f:
        f.write(b"LP\x00\x10\x00\x00garbage")
    server.start()
    server.wait_loaded()
    with server.client() as http:
        assert http.post("/v1/events", json={"model_id": "m", "latency_ms": 2}).status_code == 202
    server.wait_loaded()
    assert summary(server, ADMIN_KEY)["groups"][0]["requests"] == 6


def test_damage_inside_the_spool_loses_only_the_damaged_bytes(fresh_server: Server) -> None:
    """Records written after a damaged one (a torn write the server went on past) are
    recovered: recovery skips to the next intact record instead of cutting there."""
    server = fresh_server.start()
    with server.client() as http:
        for n in (3, 4):
            batch = [{"model_id": f"m{n}", "latency_ms": 1}] * n
            assert http.post("/v1/events", json=batch).status_code == 202
    server.wait_loaded()
    server.kill9()
    segment = sorted((server.data_dir / "spool").glob("segment-*.log"))[-1]
    data = segment.read_bytes()
    first = 10 + int.from_bytes(data[2:6], "little")  # header: magic, length, crc
    # A torn record (header promising more than follows) between the two good ones.
    segment.write_bytes(data[:first] + b"LP\x00\x10\x00\x00\x01\x02\x03\x04torn" + data[first:])
    # Replay the whole spool into an empty store: it must hold both batches.
    (server.data_dir / "spool" / "checkpoint").write_text(f"{segment.stem.split('-')[1]} 0\n")
    drop_store(server.data_dir / "store")
    server.start()
    server.wait_loaded()
    groups = summary(server, ADMIN_KEY, group_by="model_id")["groups"]
    assert sorted((g["key"]["model_id"], g["requests"]) for g in groups) == [("m3", 3), ("m4", 4)]


@pytest.mark.parametrize("crash_at", ["events-before-rollups", "before-commit"])
def test_rollups_agree_with_raw_events_after_a_crash_mid_load(
    fresh_server: Server, crash_at: str
) -> None:
    """The loader dies (as under kill -9) with a run's rows in `llm_events` but not in the
    rollups, or in every table before the spool checkpoint moved. After the restart every
    answer read from the rollups equals the same answer computed here from the raw rows."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = hour - timedelta(hours=4)
    gen = TrafficGenerator(seed=17, users=30)
    sent = [gen.event(start + i * timedelta(hours=4) / 3000) for i in range(3000)]
    server = fresh_server.start(LLMPULSE_CRASH_AT=crash_at)
    with server.client() as http:
        assert http.post("/v1/events", json=sent).status_code == 202
    assert server.proc is not None and server.proc.wait(60) == 137, "no crash at that point"
    server.start()
    server.wait_loaded()

    raw = stored_events(server)
    assert sorted(e["event_id"] for e in raw) == sorted(e["event_id"] for e in sent)
    whole_hours = {"from": start.isoformat(), "to": hour.isoformat()}
    # The hourly rollup: summaries by its dimensions.
    for dims in ("model_id", "provider,status", "error_type"):
        answer = summary(server, ADMIN_KEY, group_by=dims, **whole_hours)["groups"]
        keys = dims.split(",")
        got = {tuple(g["key"][k] for k in keys): g for g in answer}
        expected: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for e in raw:
            expected.setdefault(tuple(e[k] for k in keys), []).append(e)
        assert set(got) == set(expected), dims
        for key, rows in expected.items():
            g = got[key]
            assert g["requests"] == len(rows)
            assert g["errors"] == sum(e["status"] == "error" for e in rows)
            assert g["tokens_in"] == sum(e["tokens_in"] for e in rows)
            assert g["tokens_out"] == sum(e["tokens_out"] for e in rows)
            cost = float(np.sum([e["cost_usd"] or 0.0 for e in rows]))
            assert g["cost_usd"] == pytest.approx(cost, rel=1e-9, abs=1e-12)
    # The per-dimension rollup: hourly requests and cost by prompt version and by user.
    with server.client() as http:
        for dim in ("prompt_version", "user_id"):
            for metric, value in (
                ("requests", lambda e: 1),
                ("cost_usd", lambda e: e["cost_usd"] or 0.0),
            ):
                series = http.get("/v1/metrics/timeseries", params={
                    "metric": metric, "interval": "1h", "group_by": dim, **whole_hours,
                }).json()["series"]  # fmt: skip
                got_totals = {s["key"][dim]: sum(p["value"] for p in s["points"]) for s in series}
                want: dict[str, float] = {}
                for e in raw:
                    want[e[dim] or ""] = want.get(e[dim] or "", 0) + value(e)
                assert got_totals.keys() == want.keys(), (dim, metric)
                for k, v in want.items():
                    assert got_totals[k] == pytest.approx(v, rel=1e-9, abs=1e-12), (dim, metric, k)

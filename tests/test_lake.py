"""The lake and exports, end to end on a real server and real chDB stores: streamed exports
in four formats, llmpulse.Client.events(), erasure, then `llmpulse lake export / verify /
backfill` (a crash before the manifest, late calls, a foreign schema, an unreachable
destination), and `serve --lake` to a local S3 server. Expected numbers come from numpy
over the calls sent."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import llmpulse
from conftest import ADMIN_KEY, OTHER_KEY, Server, free_port, new_project_key, store_url
from s3 import s3_server

N = 3000
ERASED = "erase-me"


def calls(n: int, seed: int, start: float, span_s: float, tag: str) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        latency = float(rng.lognormal(6.0, 0.7))
        call: dict[str, Any] = {
            "event_id": f"{tag}-{i}",
            "ts": datetime.fromtimestamp(start + float(rng.uniform(0, span_s)), UTC).isoformat(),
            "model_id": "gpt-4o" if i % 3 else "gpt-4o-mini",
            "provider": "openai",
            "latency_ms": latency,
            "tokens_in": int(rng.integers(10, 4000)),
            "tokens_out": int(rng.integers(1, 900)),
            "user_id": ERASED if i % 25 == 0 else f"u{i % 9}",
        }
        if i % 4 == 0:
            call["ttft_ms"] = latency / 5
        if i % 11 == 0:
            call.update(status="error", error_type="rate_limit")
        out.append(call)
    return out


def frame(sent: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {k: np.array([c[k] for c in sent]) for k in ("tokens_in", "tokens_out", "latency_ms",
                                                         "user_id", "model_id")}  # fmt: skip


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("lake")
    server = Server(root / "data").start()
    now = time.time()
    sent = calls(N, seed=3, start=now - 60 * 3600, span_s=59 * 3600, tag="c")
    with server.client(ADMIN_KEY) as http:
        for i in range(0, N, 1000):
            assert http.post("/v1/events", json=sent[i : i + 1000]).status_code == 202
        bad = [{"event_id": f"bad-{i}", "latency_ms": 5} for i in range(3)]  # no model_id
        assert http.post("/v1/events", json=bad).status_code == 400
    server.wait_loaded()
    yield {"root": root, "server": server, "sent": sent, "now": now}
    server.stop()


def test_exports_stream_every_call_in_each_format(lake: dict[str, Any]) -> None:
    server, expected = lake["server"], frame(lake["sent"])
    with server.client(ADMIN_KEY) as http:
        got = http.get("/v1/export/events", params={"from": "-7d", "format": "csv"})
        assert got.status_code == 200
        assert 'filename="events-test.csv"' in got.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(got.text)))
        assert len(rows) == N
        assert sum(int(r["tokens_in"]) for r in rows) == expected["tokens_in"].sum()

        got = http.get("/v1/export/events", params={"from": "-7d", "format": "ndjson"})
        lines = [json.loads(line) for line in got.text.splitlines()]
        assert len(lines) == N and len({r["event_id"] for r in lines}) == N
        assert sum(r["tokens_out"] for r in lines) == expected["tokens_out"].sum()

        got = http.get("/v1/export/events", params={"from": "-7d", "format": "parquet"})
        table = pq.read_table(pa.BufferReader(got.content))
        assert np.isclose(pa.compute.sum(table["latency_ms"]).as_py(), expected["latency_ms"].sum())

        params = {"from": "-7d", "format": "arrow", "model_id": "gpt-4o-mini"}
        got = http.get("/v1/export/events", params=params)
        table = pa.ipc.open_stream(got.content).read_all()
        assert table.num_rows == (expected["model_id"] == "gpt-4o-mini").sum()

        got = http.get("/v1/export/events", params={"from": "-7d", "columns": "model_id,tokens_in"})
        assert got.text.splitlines()[0] == '"model_id","tokens_in"'

        got = http.get("/v1/export/rejected", params={"format": "ndjson"})
        dead = [json.loads(line) for line in got.text.splitlines()]
        assert len(dead) == 3 and all("model_id" in d["reason"] for d in dead)

        # The query API's answers as files too: calls per model, and per hour.
        got = http.get("/v1/metrics/summary",
                       params={"from": "-7d", "group_by": "model_id", "format": "csv"})  # fmt: skip
        per_model = {
            r["model_id"]: int(r["requests"]) for r in csv.DictReader(io.StringIO(got.text))
        }
        models, counts = np.unique(expected["model_id"], return_counts=True)
        assert per_model == dict(zip(models.tolist(), counts.tolist(), strict=True))
        assert "latency_ms_p95" in got.text.splitlines()[0]
        got = http.get("/v1/metrics/timeseries",
                       params={"from": "-7d", "interval": "1h", "format": "parquet"})  # fmt: skip
        assert pa.compute.sum(pq.read_table(pa.BufferReader(got.content))["requests"]).as_py() == N

        scored = [{"event_id": f"c-{i}", "name": "helpful", "value": i % 2} for i in range(5)]
        assert http.post("/v1/scores", json=scored).status_code in (200, 201, 202)
        server.wait_loaded()
        got = http.get("/v1/export/scores", params={"format": "ndjson", "from": "-1h"})
        assert sorted(json.loads(line)["value"] for line in got.text.splitlines()) == [
            0,
            0,
            0,
            1,
            1,
        ]

        for params, field in (({"format": "xml"}, "format"), ({"columns": "nope"}, "columns")):
            got = http.get("/v1/export/events", params=params)
            assert got.status_code in (400, 422), got.text
            assert field in got.text

    df = llmpulse.Client(server.url, ADMIN_KEY).events(from_="-7d")
    assert len(df) == N
    assert str(df["ts"].dtype) == "datetime64[ms, UTC]"
    assert df["model_id"].dtype == "category"
    assert df["ttft_ms"].notna().sum() == sum(1 for c in lake["sent"] if "ttft_ms" in c)


def test_a_large_export_is_read_in_pages_each_call_once(lake: dict[str, Any]) -> None:
    """More calls than one page (50,000): keyset pages neither skip nor repeat a call."""
    server, n = lake["server"], 52_000
    sent = [{"event_id": f"big-{i}", "model_id": "m", "latency_ms": i % 977, "tokens_in": i}
            for i in range(n)]  # fmt: skip
    with server.client(OTHER_KEY) as http:
        for i in range(0, n, 1000):  # the largest batch the API takes
            assert http.post("/v1/events", json=sent[i : i + 1000]).status_code == 202
        server.wait_loaded()
        got = http.get("/v1/export/events", params={"columns": "event_id,tokens_in"})
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert len(rows) == n and len({r["event_id"] for r in rows}) == n
    assert sum(int(r["tokens_in"]) for r in rows) == n * (n - 1) // 2


def test_erasure_removes_a_user_and_returns_a_receipt(lake: dict[str, Any]) -> None:
    server, expected = lake["server"], frame(lake["sent"])
    with server.client(new_project_key(server)) as http:
        assert http.delete(f"/v1/users/{ERASED}").status_code == 403  # not an admin key
    with server.client(ADMIN_KEY) as http:
        receipt = http.delete(f"/v1/users/{ERASED}").json()
        assert receipt["deleted"]["events"] == (expected["user_id"] == ERASED).sum()
        assert receipt["status"] == "complete" and receipt["user_id"] == ERASED
        got = http.get("/v1/export/events", params={"from": "-7d", "columns": "user_id"})
    users = {r["user_id"] for r in csv.DictReader(io.StringIO(got.text))}
    assert ERASED not in users and users


def lake_cli(*args: str, store: Path, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "llmpulse", "lake", *args, "--store", store_url(store)],
        capture_output=True, text=True, timeout=300, env={**os.environ, **env},
    )  # fmt: skip


def silver(dest: Path) -> pa.Table:
    return ds.dataset(dest / "silver", format="parquet", partitioning="hive").to_table()


def test_lake_export_verify_and_backfill(lake: dict[str, Any], tmp_path: Path) -> None:
    server, root, sent = lake["server"], lake["root"], lake["sent"]
    kept = [c for c in sent if c["user_id"] != ERASED]
    server.stop()  # the CLI opens the chDB store itself
    store, dest = root / "data" / "store", root / "lake"

    # A run killed after writing its files, before its manifest: nothing is committed.
    crashed = lake_cli("export", str(dest), "--settle", "0s", store=store,
                       LLMPULSE_CRASH_AT="lake-before-manifest")  # fmt: skip
    assert crashed.returncode == 137, crashed.stderr
    assert list(dest.glob("silver/**/*.parquet")) and not list(dest.glob("_manifests/*"))
    done = lake_cli("export", str(dest), "--settle", "0s", store=store)
    assert done.returncode == 0, done.stderr
    assert "removed" in done.stdout and "run 1 committed" in done.stdout

    table = silver(dest).filter(pa.compute.field("project") == "test")
    assert table.num_rows == len(kept)
    assert pa.compute.sum(table["tokens_in"]).as_py() == sum(c["tokens_in"] for c in kept)
    assert ERASED not in set(table["user_id"].to_pylist())
    (count, tokens), = duckdb.sql(
        f"SELECT count(*), sum(tokens_out) FROM read_parquet('{dest}/silver/project=test/**/*.parquet')"
    ).fetchall()  # fmt: skip
    assert (count, tokens) == (len(kept), sum(c["tokens_out"] for c in kept))

    # Gold: calls per hour and model as numpy counts them.
    gold = ds.dataset(dest / "gold", format="parquet", partitioning="hive").to_table()
    gold = gold.filter(pa.compute.field("project") == "test").to_pylist()
    expected: dict[tuple[int, str], int] = {}
    for c in kept:
        hour = int(datetime.fromisoformat(c["ts"]).timestamp() // 3600)
        expected[(hour, c["model_id"])] = expected.get((hour, c["model_id"]), 0) + 1
    assert {(int(g["hour_start"].timestamp() // 3600), g["model_id"]): g["requests"] for g in gold} \
        == expected  # fmt: skip
    bronze = ds.dataset(dest / "bronze", format="parquet", partitioning="hive").to_table()
    bronze = bronze.filter(pa.compute.field("project") == "test")
    assert pa.compute.sum(bronze["accepted"]).as_py() == len(kept)
    assert bronze.num_rows - len(kept) == 3  # the dead letters, with their reasons

    assert lake_cli("verify", str(dest), store=store).returncode == 0

    # Late calls: their ts in hours already exported; the next run adds them, once.
    server.start()
    late = calls(40, seed=9, start=lake["now"] - 50 * 3600, span_s=3600, tag="late")
    late = [{**c, "user_id": "late"} for c in late]
    with server.client(ADMIN_KEY) as http:
        assert http.post("/v1/events", json=late).status_code == 202
    server.wait_loaded()
    server.stop()
    again = lake_cli("export", str(dest), "--settle", "0s", store=store)
    assert again.returncode == 0 and "run 2 committed" in again.stdout
    table = silver(dest).filter(pa.compute.field("project") == "test")
    assert table.num_rows == len(kept) + 40
    assert len(set(table["event_id"].to_pylist())) == table.num_rows
    gold = ds.dataset(dest / "gold", format="parquet", partitioning="hive").to_table()
    test_gold = gold.filter(pa.compute.field("project") == "test")
    assert pa.compute.sum(test_gold["requests"]).as_py() == len(kept) + 40
    assert lake_cli("verify", str(dest), store=store).returncode == 0

    # Backfill into a new store: the same calls, latencies and tokens; twice changes nothing.
    fresh = tmp_path / "fresh" / "store"
    first = lake_cli("backfill", str(dest), store=fresh)
    assert first.returncode == 0, first.stderr
    total = silver(dest).num_rows
    assert f"{total:,} calls loaded" in first.stdout
    assert "0 calls loaded" in lake_cli("backfill", str(dest), store=fresh).stdout

    # Bronze as received, checked again; and replayed through the ingest path at new prices.
    from_bronze = lake_cli("backfill", str(dest), "--layer", "bronze", store=tmp_path / "b")
    assert f"{total:,} calls loaded" in from_bronze.stdout, from_bronze.stderr
    price_file = tmp_path / "prices.yaml"
    price_file.write_text(
        "gpt-4o: {input: 1.0, output: 2.0}\ngpt-4o-mini: {input: 0.5, output: 1.0}\n"
    )
    replayed = lake_cli("backfill", str(dest), "--layer", "bronze", "--reprocess", "--prices",
                        str(price_file), store=tmp_path / "r")  # fmt: skip
    assert f"{total:,} calls loaded" in replayed.stdout, replayed.stderr
    rates = {"gpt-4o": (1.0, 2.0), "gpt-4o-mini": (0.5, 1.0)}
    every = kept + late
    cost = sum(c["tokens_in"] * rates[c["model_id"]][0] + c["tokens_out"] * rates[c["model_id"]][1]
               for c in every) / 1e6  # fmt: skip
    query = "SELECT sum(cost_usd) AS c FROM llm_events WHERE project = 'test'"
    script = ("import json; from llmpulse.store import open_engine; "
              f"print(json.dumps(open_engine({store_url(tmp_path / 'r')!r}).rows({query!r})[0]))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout)
    assert abs(found["c"] - cost) < 1e-6 * max(cost, 1)
    copy = Server(tmp_path / "fresh").start()
    try:
        with copy.client(ADMIN_KEY) as http:
            got = http.get("/v1/export/events", params={"from": "-7d", "format": "parquet"})
        table = pq.read_table(pa.BufferReader(got.content))
        assert table.num_rows == len(kept) + 40
        # Stored to the microsecond, as at ingest.
        assert np.allclose(np.sort(table["latency_ms"].to_numpy()),
                           np.sort([c["latency_ms"] for c in every]), atol=5e-4, rtol=0)  # fmt: skip
        assert ERASED not in set(table["user_id"].to_pylist())
    finally:
        copy.stop()


def test_a_foreign_schema_and_an_unreachable_lake_are_refused(
    lake: dict[str, Any], tmp_path: Path
) -> None:
    dest = tmp_path / "foreign"
    source = sorted((lake["root"] / "lake").glob("silver/**/*.parquet"))[0]
    table = pq.read_table(source)
    table = table.set_column(table.schema.get_field_index("tokens_in"), "tokens_in",
                             pa.compute.cast(table["tokens_in"], pa.string()))  # fmt: skip
    path = "silver/project=test/date=2026-01-01/hour=00/part-000001-00000.parquet"
    (dest / path).parent.mkdir(parents=True)
    pq.write_table(table, dest / path)
    data = (dest / path).read_bytes()
    import hashlib

    manifest = {"run": 1, "mode": "incremental", "schema_version": 1, "created_at": "x",
                "layers": ["silver"], "watermark_from_ms": None, "watermark_to_ms": 1,
                "range_from_ms": None, "range_to_ms": None, "replaces": [], "tombstones": [],
                "files": [{"path": path, "layer": "silver", "project": "test",
                           "rows": table.num_rows, "bytes": len(data),
                           "sha256": hashlib.sha256(data).hexdigest(),
                           "min_ts": "2026-01-01T00:00:00+00:00",
                           "max_ts": "2026-01-01T00:59:00+00:00"}]}  # fmt: skip
    (dest / "_manifests").mkdir()
    (dest / "_manifests" / "run-000001.json").write_text(json.dumps(manifest))
    refused = lake_cli("backfill", str(dest), store=tmp_path / "s")
    assert refused.returncode == 1 and "tokens_in" in refused.stderr

    port = free_port()  # nothing listens there
    down = lake_cli("export", "s3://lake/llm", "--s3-endpoint", f"http://127.0.0.1:{port}",
                    store=tmp_path / "s")  # fmt: skip
    assert down.returncode == 1
    assert "s3://lake/llm" in down.stderr and "watermark was not advanced" in down.stderr
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    unwritable = lake_cli("export", str(blocked / "lake"), store=tmp_path / "s")
    assert unwritable.returncode == 1
    assert str(blocked / "lake") in unwritable.stderr.replace("\n", "")


@pytest.fixture
def s3() -> Iterator[str]:
    with s3_server("lake") as url:
        yield url


def test_serve_exports_to_s3_as_calls_arrive(s3: str, tmp_path: Path) -> None:
    import pyarrow.fs as pafs

    aws = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL": s3}
    server = Server(tmp_path / "data", "--lake", "s3://lake/llm", "--lake-interval", "1s")
    server.start(LLMPULSE_LAKE_SETTLE_S="0", **aws)
    try:
        sent = calls(500, seed=4, start=time.time() - 7200, span_s=7000, tag="s3")
        with server.client(ADMIN_KEY) as http:
            assert http.post("/v1/events", json=sent).status_code == 202
        fs = pafs.S3FileSystem(access_key="test", secret_key="test", region="us-east-1",
                               endpoint_override=s3.removeprefix("http://"), scheme="http")  # fmt: skip
        deadline, rows = time.monotonic() + 90, 0
        while time.monotonic() < deadline and rows < len(sent):
            try:
                rows = ds.dataset("lake/llm/silver", filesystem=fs, format="parquet").count_rows()
            except (FileNotFoundError, OSError):
                rows = 0
            time.sleep(0.5)
        table = ds.dataset("lake/llm/silver", filesystem=fs, format="parquet").to_table()
        assert table.num_rows == len(sent)
        assert pa.compute.sum(table["tokens_in"]).as_py() == sum(c["tokens_in"] for c in sent)
        manifests = fs.get_file_info(pafs.FileSelector("lake/llm/_manifests"))
        assert manifests
    finally:
        server.stop()

"""Retention by TTL per project, and server-side redaction at ingest, on the shared server.
Expected rows are counted from what the test sent; redaction is checked by scanning every
stored column of the project's calls and dead letters for the secrets sent."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from conftest import Server, new_project_key


def _whoami(server: Server, key: str) -> str:
    from llmpulse.meta.keys import KeyStore

    grant = KeyStore(server.data_dir / "keys.sqlite3").grant_for(key)
    assert grant is not None
    return grant.project


def test_retention_is_per_project_and_applies_to_stored_calls(server: Server) -> None:
    short, other = new_project_key(server, admin=True), new_project_key(server, admin=True)
    project = _whoami(server, short)
    now = time.time()
    ages_days = [0.1, 0.5, 2.5, 3, 5]  # kept with 2d: the first two
    sent = [{"model_id": "m", "latency_ms": 1,
             "ts": datetime.fromtimestamp(now - d * 86400, UTC).isoformat()} for d in ages_days]  # fmt: skip
    for key in (short, other):
        with server.client(key) as http:
            assert http.post("/v1/events", json=sent).status_code == 202
    server.wait_loaded()
    with server.client(short) as http:
        bad = http.put(f"/v1/projects/{project}/retention", json={"raw": "30 days"})
        assert bad.status_code == 422 and "raw" in bad.text and "30d" in bad.text
        assert http.put("/v1/projects/elsewhere/retention", json={"raw": "2d"}).status_code == 404
        answer = http.put(f"/v1/projects/{project}/retention", json={"raw": "2d"}).json()
        assert answer["raw"] == {"days": 2, "source": "project"}
        assert answer["rollups"]["source"] == "default"
        assert http.get(f"/v1/projects/{project}/retention").json()["raw"]["days"] == 2
        deadline, kept = time.monotonic() + 60, -1
        while time.monotonic() < deadline and kept != 2:
            got = http.get("/v1/export/events", params={"from": "-30d", "columns": "ts"})
            kept = len(got.text.splitlines()) - 1
            time.sleep(0.5)
        assert kept == 2
    with server.client(other) as http:  # another project keeps the default (90 days)
        got = http.get("/v1/export/events", params={"from": "-30d", "columns": "ts"})
        assert len(got.text.splitlines()) - 1 == len(sent)


SECRETS = {
    "email": "jane.doe@example.com",
    "card_number": "4111 1111 1111 1111",
    "iban": "GB82 WEST 1234 5698 7654 32",
    "ip_address": "203.0.113.77",
    "api_key": "sk-proj-abcdefghijklmnopqrstuvwx",
    "ticket": "TICKET-4821",
}


def test_redaction_leaves_no_secret_in_the_store(server: Server) -> None:
    key = new_project_key(server, admin=True)
    rules = {"email": True, "card_number": True, "iban": True, "ip_address": True,
             "api_key": True, "phone": False}  # fmt: skip
    custom = [{"name": "ticket", "pattern": r"TICKET-\d{4}"}]
    text = "contact " + " and ".join(SECRETS.values()) + " please"
    with server.client(key) as http:
        bad = http.put("/v1/settings/redaction", json={"rules": {"emails": True}})
        assert bad.status_code == 422 and "emails" in bad.text
        bad = http.put("/v1/settings/redaction",
                       json={"custom": [{"name": "x", "pattern": "(unclosed"}]})  # fmt: skip
        assert bad.status_code == 422 and "pattern" in bad.text
        assert http.put(
            "/v1/settings/redaction", json={"rules": rules, "custom": custom}
        ).is_success
        sent = [{"model_id": "m", "latency_ms": 3, "prompt": text, "completion": text,
                 "metadata": {"note": text}} for _ in range(4)]  # fmt: skip
        assert http.post("/v1/events", json=sent).status_code == 202
        # A dead letter (no model_id) keeps its payload, redacted too.
        assert http.post("/v1/events", json=[{"latency_ms": 1, "prompt": text}]).status_code == 400
        server.wait_loaded()
        stored = http.get("/v1/export/events", params={"format": "ndjson"}).text
        dead = http.get("/v1/export/rejected", params={"format": "ndjson"}).text
        counts = http.get("/v1/settings/redaction").json()["redacted_last_24h"]
        quality = http.get("/v1/quality", params={"from": "-1h"}).json()["redactions"]
    assert stored.count("\n") == 4 and dead.count("\n") == 1
    for name, secret in SECRETS.items():
        assert secret not in stored and secret not in dead, name
        assert f"[REDACTED:{name}]" in stored and f"[REDACTED:{name}]" in dead, name
        assert counts[name] == quality[name] == 8, (name, counts)  # prompt, completion x 4

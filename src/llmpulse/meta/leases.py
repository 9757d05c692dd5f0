"""Leases: which node runs a singleton job (alert evaluation, lake export) when several
serve one store. A lease is a row (name, holder, expires_at) in the metadata database; its
holder renews it well before it expires, and when the holder dies (kill -9, a lost
machine) another node takes it once it has expired. Nodes' clocks are compared, so keep
them in sync (NTP): a skew of s seconds shortens or lengthens a takeover by s."""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any

from llmpulse.meta.database import MetaDatabase


def node_id() -> str:
    """This process, as other nodes see it in a lease: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class Lease:
    db: MetaDatabase
    name: str
    holder: str
    ttl_s: float

    def hold(self) -> bool:
        """Take the lease if it is free or expired, renew it if held here; True if held here."""
        now = time.time()
        self.db.execute(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "expires_at = excluded.expires_at "
            "WHERE leases.holder = excluded.holder OR leases.expires_at < ?",
            (self.name, self.holder, now + self.ttl_s, now),
        )
        row = self.db.execute("SELECT holder FROM leases WHERE name = ?", (self.name,)).fetchone()
        return bool(row and row[0] == self.holder)

    def release(self) -> None:
        """Give the lease up (a clean stop): another node may take it at once."""
        self.db.execute(
            "DELETE FROM leases WHERE name = ? AND holder = ?", (self.name, self.holder)
        )

    def state(self) -> dict[str, Any]:
        """Who holds it and for how much longer, for /health."""
        row = self.db.execute(
            "SELECT holder, expires_at FROM leases WHERE name = ?", (self.name,)
        ).fetchone()
        if row is None:
            return {"holder": None, "here": False, "expires_in_s": None}
        left = round(float(row[1]) - time.time(), 1)
        return {"holder": row[0], "here": row[0] == self.holder, "expires_in_s": left}

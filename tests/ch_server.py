"""A real ClickHouse server from the chdb-core wheel (no Docker, no ClickHouse packages).

`python ch_server.py DATADIR HTTP_PORT TCP_PORT` prints READY once /ping answers; stop it
by killing the process. Extra config.xml (a cluster's remote_servers) comes from
CH_EXTRA_XML. See ../shared/recipes/clickhouse-server.md for why it works this way: the
listeners live as long as one never-ending query, and ports come only from ./config.xml.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import urllib.request


def main(datadir: str, http_port: str, tcp_port: str) -> None:
    datadir = os.path.abspath(datadir)
    os.makedirs(datadir, exist_ok=True)
    with open(os.path.join(datadir, "config.xml"), "w") as f:
        f.write(
            f"<clickhouse><listen_host>127.0.0.1</listen_host><http_port>{http_port}</http_port>"
            f"<tcp_port>{tcp_port}</tcp_port>{os.environ.get('CH_EXTRA_XML', '')}</clickhouse>"
        )
    os.chdir(datadir)
    import chdb._chdb as _chdb  # type: ignore[import-not-found]

    # sleepEachRow sleeps at most 3 s per block, hence max_block_size = 1. TabSeparated
    # becomes the HTTP default format, as on a real server.
    serve = (
        "SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; SELECT sleepEachRow(1) "
        "FROM numbers(1000000000) SETTINGS max_block_size = 1 FORMAT Null"
    )
    threading.Thread(
        target=_chdb.query, args=(serve, "TabSeparated"), kwargs={"path": datadir}, daemon=True
    ).start()
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/ping", timeout=1) as r:
                if r.read() == b"Ok.\n":
                    print("READY", flush=True)
                    break
        except OSError:
            time.sleep(0.05)
    else:
        sys.exit("ClickHouse did not start")
    threading.Event().wait()


if __name__ == "__main__":
    main(*sys.argv[1:4])

"""Dashboard speed over 10 million events in 7 days, in headless Chromium; screenshots.

For each page: the server's time to answer it (its data queries and rendering: median of 5
over HTTP), and the time until every chart is drawn in Chromium (median of 5). Then the
bytes a first visit downloads and a second visit downloads. Screenshots of every page go
to docs/screenshots/. Run: python bench/dashboard.py [--events 10000000] [--range 24h]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from common import machine, rss_mib, start_server
from query import fill

PAGES = {
    "overview": "/",
    "requests": "/requests",
    "models": "/models",
    "errors": "/errors",
    "costs": "/costs",
    "users": "/users",
}
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def drawn(page: Page, url: str) -> float:
    """Seconds from navigation until the page is loaded and every chart has drawn."""
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(
        "Array.from(document.querySelectorAll('[data-chart]'))"
        ".every(el => el.querySelector('.main-svg'))"
    )
    return time.perf_counter() - t0


def visit_bytes(page: Page, url: str) -> int:
    """Bytes on the wire (headers + encoded bodies) for one page view."""
    total = [0]

    def count(request: object) -> None:
        sizes = request.sizes()  # type: ignore[attr-defined]
        total[0] += sizes["responseBodySize"] + sizes["responseHeadersSize"]

    page.on("requestfinished", count)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.remove_listener("requestfinished", count)
    return total[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--range", default="24h", help="the pages' time range: 1h, 24h, 7d ...")
    parser.add_argument("--no-screenshots", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        fill(data_dir, args.events, 7)
        proc, url = start_server(data_dir)
        server_ms: dict[str, float] = {}
        with httpx.Client(base_url=url, timeout=120) as http:
            for name, path in PAGES.items():
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    r = http.get(path, params={"range": args.range})
                    times.append(time.perf_counter() - t0)
                    assert r.status_code == 200, (path, r.status_code)
                server_ms[name] = statistics.median(times) * 1000
        draw_ms: dict[str, float] = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            first = visit_bytes(page, f"{url}/?range={args.range}")
            second = visit_bytes(page, f"{url}/?range={args.range}")
            for name, path in PAGES.items():
                target = f"{url}{path}?range={args.range}"
                draw_ms[name] = statistics.median(drawn(page, target) for _ in range(5)) * 1000
                if not args.no_screenshots:
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SHOTS / f"{name}.png"))
            browser.close()
        rss = rss_mib(proc.pid)
        proc.terminate()
        proc.wait()
    print(f"machine: {machine()}")
    print(f"events: {args.events:,} over 7 days; pages at range={args.range}")
    for name in PAGES:
        print(
            f"{name:9s} server {server_ms[name]:6.0f} ms   drawn in Chromium {draw_ms[name]:6.0f} ms"
        )
    print(
        f"first visit: {first / 1024:,.0f} KiB on the wire; second visit: {second / 1024:,.0f} KiB"
    )
    print(f"server RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()

"""`llmpulse quality`: the data-quality report of a running server in the terminal, with an
exit status for CI and cron (1 when a check failed)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from llmpulse.analytics.quality import CHECKS
from llmpulse.cli.common import console
from llmpulse.cli.remote import DEFAULT_URL, Key, Url, call


def _number(value: Any) -> str:
    return f"{value:,.4g}" if isinstance(value, float) else str(value)


def _evidence(check: dict[str, Any]) -> str:
    """One line of the evidence that matters most for the check."""
    e = check["evidence"]
    match check["name"]:
        case "completeness":
            low = {k: v for k, v in e["fields"].items() if v is not None and v < 1}
            return ", ".join(f"{k} {v:.1%}" for k, v in sorted(low.items(), key=lambda i: i[1]))
        case "freshness":
            return f"newest {e['newest']}, lag p95 {_number(e['ingest_lag_p95_s'])} s"
        case "gaps":
            return "; ".join(f"{g['model_id'] or 'all'} {g['from']}..{g['to']}" for g in e["gaps"])
        case "volume":
            return "; ".join(
                f"{a['hour']}: {a['calls']} vs {a['baseline']}" for a in e["anomalies"]
            )
        case "rejected":
            return "; ".join(f"{r['events']} x {r['reason']}" for r in e["reasons"][:3])
        case "unpriced":
            return ", ".join(e["models"])
        case "clock_skew":
            return f"{e['late_events']} late, {e['rejected_from_future']} from the future"
        case "metadata_schema":
            changed = [f"{c['key']} {c['before']}→{c['now']}" for c in e["type_changes"]]
            return "; ".join(
                [f"new {', '.join(e['new_keys'])}"] * bool(e["new_keys"])
                + [f"gone {', '.join(e['gone_keys'])}"] * bool(e["gone_keys"])
                + changed
            )
        case "coverage":
            return ", ".join(
                f"{s.get('model_id') or s.get('feature')} (last {s['last_seen']})"
                for s in e["stopped"]
            )
    return f"share {e.get('share', 0):.3%}"


def quality(
    url: Url = DEFAULT_URL,
    api_key: Key = None,
    start: Annotated[str, typer.Option("--from", help="ISO 8601 or relative (-1h, -7d).")] = "-24h",
    to: Annotated[str, typer.Option(help="ISO 8601 or relative.")] = "now",
    check: Annotated[
        list[str] | None,
        typer.Option(help=f"Only these decide the exit status (repeat): {', '.join(CHECKS)}."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """The data quality of a project's telemetry; exits 1 when a check fails."""
    for name in check or ():
        if name not in CHECKS:
            raise typer.BadParameter(f"unknown check {name!r}; one of {', '.join(CHECKS)}",
                                     param_hint="--check")  # fmt: skip
    report = call(url, api_key, "GET", "/v1/quality", params={"from": start, "to": to})
    if as_json:
        console.print_json(orjson.dumps(report).decode())
    else:
        title = f"Data quality {report['from']} .. {report['to']}: {report['events']:,} events"
        table = Table("check", "status", "score", "value", "threshold", title=title)
        table.add_column("evidence", overflow="fold", ratio=1)
        for c in report["checks"]:
            style = "green" if c["status"] == "pass" else "bold red"
            table.add_row(c["name"], f"[{style}]{c['status']}[/]", f"{c['score']:.3f}",
                          _number(c["value"]), str(c["threshold"]), _evidence(c))  # fmt: skip
        console.print(table)
    judged = [c for c in report["checks"] if not check or c["name"] in check]
    if any(c["status"] == "fail" for c in judged):
        raise typer.Exit(1)

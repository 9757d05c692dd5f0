"""`llmpulse alerts`: rules, history, silences and evaluation on a running server, and
rules kept in git as YAML (`apply`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from llmpulse.cli.common import console, fail
from llmpulse.cli.remote import DEFAULT_URL, Key, Url
from llmpulse.cli.remote import call as _call

alerts_app = typer.Typer(
    help="Alert rules, SLOs, channels, silences and history on a running server.",
    no_args_is_help=True,
)
# What an `apply` file may hold, and where each kind lives in the API.
SECTIONS = {"channels": "/v1/alerts/channels", "rules": "/v1/alerts/rules", "slos": "/v1/slos"}


@alerts_app.command("rules")
def rules(url: Url = DEFAULT_URL, api_key: Key = None) -> None:
    """The rules and the state of each of their alerts."""
    found = _call(url, api_key, "GET", "/v1/alerts/rules")["rules"]
    current = _call(url, api_key, "GET", "/v1/alerts")["alerts"]
    table = Table("id", "name", "metric", "thresholds", "window", "alerts")
    for r in found:
        rule = r["rule"]
        states = [a for a in current if a["rule_id"] == r["id"]]
        summary = ", ".join(
            f"{a['state']}{' (silenced)' if a['silenced'] else ''}"
            + ("" if not a["group"] else f" {'/'.join(a['group'].values())}")
            for a in states
        )
        thresholds = " ".join(f"{k} {rule['comparison']} {rule[k]}" for k in ("warning", "critical")
                              if rule[k] is not None)  # fmt: skip
        table.add_row(r["id"], rule["name"], rule["metric"], thresholds, rule["window"],
                      summary or "not evaluated yet")  # fmt: skip
    console.print(table)


@alerts_app.command("history")
def history(
    url: Url = DEFAULT_URL,
    api_key: Key = None,
    since: Annotated[str, typer.Option("--from", help="ISO 8601 or relative (-24h).")] = "-24h",
    rule: Annotated[str | None, typer.Option(help="One rule's id.")] = None,
) -> None:
    """Transitions of the alerts, newest first."""
    path = f"/v1/alerts/history?from={since}" + (f"&rule_id={rule}" if rule else "")
    table = Table("time", "rule", "group", "from", "to", "value", "threshold", "delivered")
    for e in _call(url, api_key, "GET", path)["events"]:
        outcomes = [f"{d['channel']}:{'ok' if d['ok'] else 'failed'}" for d in e["deliveries"]]
        delivered = ", ".join(outcomes) or ("silenced" if e["silenced"] else "")
        value = "" if e["value"] is None else f"{e['value']:.4g}"
        threshold = "" if e["threshold"] is None else f"{e['threshold']:.4g}"
        table.add_row(e["ts"], e["rule_name"], "/".join(e["group"].values()), e["from_state"],
                      e["to_state"], value, threshold, delivered)  # fmt: skip
    console.print(table)


@alerts_app.command("silence")
def silence(
    duration: Annotated[str, typer.Argument(help="How long, e.g. 2h, or an ISO 8601 end.")],
    url: Url = DEFAULT_URL,
    api_key: Key = None,
    rule: Annotated[str | None, typer.Option(help="One rule's id (default: every rule).")] = None,
    group: Annotated[
        list[str] | None, typer.Option(help="A group value to match, dimension=value (repeat).")
    ] = None,
    comment: Annotated[str, typer.Option(help="Why, for whoever looks later.")] = "",
) -> None:
    """Hold the notifications of matching alerts for a while."""
    matchers = {}
    for item in group or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise fail(f"--group {item!r} is not dimension=value")
        matchers[name] = value
    body = {"rule_id": rule, "group": matchers, "ends_at": duration, "comment": comment}
    found = _call(url, api_key, "POST", "/v1/alerts/silences", body)["silences"]
    for s in found:
        ends = datetime.fromtimestamp(s["ends_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
        console.print(f"silence {s['id']}: rule {s['rule_id'] or 'any'} {s['group']} until {ends}")


@alerts_app.command("eval")
def evaluate(
    url: Url = DEFAULT_URL,
    api_key: Key = None,
    once: Annotated[bool, typer.Option("--once", help="Evaluate once and exit (cron, CI).")] = True,
) -> None:
    """Evaluate every rule of the project now and print what changed. With the server's
    own evaluation off (`serve --no-alerts`), run this from cron."""
    made = _call(url, api_key, "POST", "/v1/alerts/evaluate")["transitions"]
    for t in made:
        group = "/".join(t["group"].values())
        silenced = " (silenced)" if t["silenced"] else ""
        console.print(f"{t['rule_id']} {group} {t['from']} -> {t['to']}{silenced}")
    console.print(f"{len(made)} transition(s)")


@alerts_app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(help="YAML with channels:, rules: and slos:, by id.")],
    url: Url = DEFAULT_URL,
    api_key: Key = None,
    prune: Annotated[
        bool, typer.Option(help="Also delete the rules, SLOs and channels the file lacks.")
    ] = False,
) -> None:
    """Make the server's alerting match a file kept in git (idempotent): channels first,
    then rules and SLOs, each created or replaced under its id."""
    try:
        spec = yaml.safe_load(file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise fail(f"{file}: {exc}") from None
    if not isinstance(spec, dict) or set(spec) - set(SECTIONS):
        raise fail(f"{file}: expected a mapping with {', '.join(SECTIONS)}")
    for section, path in SECTIONS.items():
        items = spec.get(section) or {}
        if not isinstance(items, dict):
            raise fail(f"{file}: {section} must map ids to definitions")
        for item_id, body in items.items():
            try:
                _call(url, api_key, "PUT", f"{path}/{item_id}", body)
            except typer.Exit:
                raise fail(f"{file}: {section}.{item_id} was refused (above)") from None
            console.print(f"{section[:-1]} {item_id}: applied")
    if prune:
        for section in ("rules", "slos", "channels"):
            listing = _call(url, api_key, "GET", SECTIONS[section])[section]
            for item in listing:
                if item["id"] not in (spec.get(section) or {}):
                    _call(url, api_key, "DELETE", f"{SECTIONS[section]}/{item['id']}")
                    console.print(f"{section[:-1]} {item['id']}: deleted")
